// Assigns the ferry's custom role to its identity on one resource group (a policy rule's
// source scope, or a target resource group where copies are created).
targetScope = 'resourceGroup'

param principalId string
param roleDefinitionId string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'restore-point-ferry: copy restore points in this resource group'
  }
}

output assignmentId string = assignment.id
