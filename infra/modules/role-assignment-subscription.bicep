// Assigns one of the ferry's custom roles to its identity on a whole subscription (a policy
// rule's source scope without a resource group).
targetScope = 'subscription'

param principalId string
param roleDefinitionId string

@description('What the assignment is for, shown in the portal.')
param purpose string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'restore-point-ferry: ${purpose}'
  }
}

output assignmentId string = assignment.id
