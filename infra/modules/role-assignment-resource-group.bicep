// Assigns one of the ferry's custom roles to its identity on one resource group (a policy
// rule's source scope, or a target resource group where copies are created).
targetScope = 'resourceGroup'

param principalId string
param roleDefinitionId string

@description('What the assignment is for, shown in the portal.')
param purpose string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'restore-point-ferry: ${purpose}'
  }
}

output assignmentId string = assignment.id
