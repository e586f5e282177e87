// Assigns the ferry's custom role to its identity on a whole subscription.
targetScope = 'subscription'

param principalId string
param roleDefinitionId string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'restore-point-ferry: copy restore points in this subscription'
  }
}

output assignmentId string = assignment.id
