// The ferry's control-plane role: exactly the ARM actions the app performs, nothing more.
targetScope = 'subscription'

@description('Role name shown in the portal; unique per tenant.')
param roleName string

@description('Subscription ids where the role may be assigned (source and target subscriptions).')
param assignableSubscriptionIds array

var assignableScopes = union([subscription().id], map(assignableSubscriptionIds, id => '/subscriptions/${id}'))

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'restore-point-ferry', roleName)
  properties: {
    roleName: roleName
    description: 'restore-point-ferry: read source restore points, create target collections and copies, read copy progress, clean up expired copies.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          // Find source collections and find/read target collections.
          'Microsoft.Compute/restorePointCollections/read'
          // Create a missing target collection (policy createTargetCollections).
          'Microsoft.Compute/restorePointCollections/write'
          // Read source restore points and poll target copies (?$expand=instanceView).
          'Microsoft.Compute/restorePointCollections/restorePoints/read'
          // Start a copy: PUT target restore point with sourceRestorePoint.id.
          'Microsoft.Compute/restorePointCollections/restorePoints/write'
          // Clean up a copy the platform terminated after two weeks.
          'Microsoft.Compute/restorePointCollections/restorePoints/delete'
          // Readiness (replicationStatus per disk) and private-link/disk-access detection.
          'Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints/read'
          // Validate the policy's source -> target disk encryption set mapping (CMK copies).
          'Microsoft.Compute/diskEncryptionSets/read'
          // Lineage and confidential-VM detection from the source VM.
          'Microsoft.Compute/virtualMachines/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

output roleDefinitionId string = role.id
output roleDefinitionGuid string = role.name
