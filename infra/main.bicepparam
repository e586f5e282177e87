// Parameters for infra/main.bicep. Copy and edit for your environment:
//   az deployment sub create --location westeurope \
//     --template-file infra/main.bicep --parameters infra/main.bicepparam
using './main.bicep'

param location = 'westeurope'
param baseName = 'ferry'
param resourceGroupName = 'rg-ferry'
param planKind = 'FlexConsumption'

// Copy restore points of every collection in rg-workloads tagged dr=copy to westus2,
// into rg-dr there, creating target collections as needed.
param policy = {
  rules: [
    {
      scope: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-workloads'
      tag: {
        name: 'dr'
        value: 'copy'
      }
      targets: [
        {
          region: 'westus2'
          resourceGroup: 'rg-dr'
          collectionName: '{resourceGroup}-{source}-{region}'
        }
      ]
      createTargetCollections: true
      maxCopyDuration: 'P14D'
      rpoObjective: 'PT36H'
      minConsistency: 'CrashConsistent'
    }
  ]
}

// Every rule's source scope: the read-only source role is assigned here. Leave out
// resourceGroup to grant a whole subscription.
param sourceScopes = [
  {
    subscriptionId: '00000000-0000-0000-0000-000000000000'
    resourceGroup: 'rg-workloads'
  }
]

// Every target resource group: the role that creates collections and copies (and removes
// failed ones) is assigned here, and nowhere else.
param targetResourceGroups = [
  {
    subscriptionId: '00000000-0000-0000-0000-000000000000'
    resourceGroup: 'rg-dr'
  }
]

// Restore drills' disks: one resource group per target region, created by the deployment
// (create: false takes an existing one). Names match the policy drill.resourceGroup.
param drillResourceGroups = [
  {
    subscriptionId: '00000000-0000-0000-0000-000000000000'
    resourceGroup: 'ferry-drill-westus2'
    location: 'westus2'
  }
]

// Opt-in source-side rights, off by default (see docs/deploy.md).
param allowSourcePruning = false
param protectBaseRestorePoints = false

param alertEmails = [
  'dr-operators@example.com'
]
