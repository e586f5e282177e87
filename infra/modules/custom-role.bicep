// The ferry's control-plane roles: exactly the ARM actions the app performs, split by side
// (`ferry permissions` lists them with the calls behind each):
//  - source reader: assigned at each source scope; reads only, so the ferry's identity can
//    neither change nor delete the restore points it protects;
//  - target writer: assigned on each target resource group; creates target collections and
//    copies, reads their progress, deletes expired copies;
//  - source pruner (only with allowSourcePruning): delete source restore points;
//  - base locker (only with protectBaseRestorePoints): put a delete lock on a base restore point;
//  - drill operator: assigned on each drill resource group only; restore drill disks.
targetScope = 'subscription'

@description('Role name prefix shown in the portal; role names are unique per tenant.')
param roleName string

@description('Subscription ids where the roles may be assigned (source and target subscriptions).')
param assignableSubscriptionIds array

@description('Define the source pruning role (delete source restore points).')
param allowSourcePruning bool = false

@description('Define the base protection role (write delete locks).')
param protectBaseRestorePoints bool = false

var assignableScopes = union([subscription().id], map(assignableSubscriptionIds, id => '/subscriptions/${id}'))

resource sourceReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'restore-point-ferry', roleName, 'source-reader')
  properties: {
    roleName: '${roleName} source reader'
    description: 'restore-point-ferry: read source restore point collections, restore points and disk restore points. No write, no delete.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          // The collection's tags pick the policy rule; $expand=restorePoints finds missed
          // ones; ARM checks this read when a target collection names it as its source.
          'Microsoft.Compute/restorePointCollections/read'
          // Copy or not, consistency, disks, security type, encryption; ARM checks this
          // read when a copy request names it (sourceRestorePoint.id).
          'Microsoft.Compute/restorePointCollections/restorePoints/read'
          // Private-link detection per disk (networkAccessPolicy, diskAccessId).
          'Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

resource targetWriter 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'restore-point-ferry', roleName, 'target-writer')
  properties: {
    roleName: '${roleName} target writer'
    description: 'restore-point-ferry: find or create target collections, start copies, read their progress, delete expired copies.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          // Find the chain's target collection.
          'Microsoft.Compute/restorePointCollections/read'
          // Create a missing target collection (policy createTargetCollections).
          'Microsoft.Compute/restorePointCollections/write'
          // Poll copies (?$expand=instanceView), readiness, adopt an existing copy.
          'Microsoft.Compute/restorePointCollections/restorePoints/read'
          // Start a copy: PUT target restore point with sourceRestorePoint.id.
          'Microsoft.Compute/restorePointCollections/restorePoints/write'
          // Delete an expired copy (past maxCopyDuration) so the chain moves on.
          'Microsoft.Compute/restorePointCollections/restorePoints/delete'
          // ARM checks that the caller can read the target disk encryption set a CMK copy names.
          'Microsoft.Compute/diskEncryptionSets/read'
          // Restore drills: list a copy's disk restore points; ARM checks this read when a
          // drill disk names one as its sourceResourceId.
          'Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

resource sourcePruner 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (allowSourcePruning) {
  name: guid(subscription().id, 'restore-point-ferry', roleName, 'source-pruner')
  properties: {
    roleName: '${roleName} source pruner'
    description: 'restore-point-ferry: delete source restore points that are safely copied (pruning; never the base of a chain).'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Compute/restorePointCollections/restorePoints/delete'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

resource baseLocker 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (protectBaseRestorePoints) {
  name: guid(subscription().id, 'restore-point-ferry', roleName, 'base-locker')
  properties: {
    roleName: '${roleName} base locker'
    description: 'restore-point-ferry: write management locks, to put a delete lock on the base restore point of each chain (never read or delete one).'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Authorization/locks/write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

// Restore drills: disks in the drill resource groups only (assigned there, nowhere else).
resource drillOperator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'restore-point-ferry', roleName, 'drill-operator')
  properties: {
    roleName: '${roleName} drill operator'
    description: 'restore-point-ferry: restore drills create a disk from a copied disk restore point, read it and delete it, in the drill resource group.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          // Restore a disk from a copied disk restore point (createOption Restore).
          'Microsoft.Compute/disks/write'
          // Wait for and check a drill disk; list the group for earlier drills' leftovers.
          'Microsoft.Compute/disks/read'
          // Delete a drill's disks once checked, and leftovers.
          'Microsoft.Compute/disks/delete'
          // Read a drill disk's restore operation for its endTime (the exact ready time).
          'Microsoft.Compute/locations/DiskOperations/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

output sourceReaderRoleId string = sourceReader.id
output targetWriterRoleId string = targetWriter.id
output drillOperatorRoleId string = drillOperator.id
output sourcePrunerRoleId string = allowSourcePruning ? sourcePruner.id : ''
output baseLockerRoleId string = protectBaseRestorePoints ? baseLocker.id : ''
