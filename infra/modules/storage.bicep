// Storage account for the Functions runtime (AzureWebJobsStorage, identity-based; its two
// blob containers are created here so the app's roles can be scoped to them), the Flex
// Consumption deployment container, the Event Grid dead-letter container and the ferry
// ledger table. Shared keys are disabled: every client uses Entra ID.

param location string

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Table that holds the ferry ledger (chains, copies, lineage).')
param ledgerTableName string = 'ferryledger'

@description('Blob container the Flex Consumption plan deploys the package from.')
param deploymentContainerName string = 'app-package'

@description('Blob container receiving Event Grid dead-lettered events.')
param deadLetterContainerName string = 'eventgrid-deadletter'

// The Functions host's own containers (fixed names): azure-webjobs-hosts holds the host id
// lock, singleton and timer-trigger leases and schedule status; azure-webjobs-secrets holds
// the host and function keys (the status function's key).
var hostContainerNames = [
  'azure-webjobs-hosts'
  'azure-webjobs-secrets'
]

@description('Public network access: Enabled (default), or Disabled when every client reaches the account through private endpoints (docs/deploy.md).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

param tags object = {}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    // No account keys and no SAS: the app, the host and Event Grid all use managed identities.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    accessTier: 'Hot'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource hostContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for name in hostContainerNames: {
  parent: blobService
  name: name
  properties: {
    publicAccess: 'None'
  }
}]

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource ledgerTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: ledgerTableName
}

output accountId string = account.id
output accountName string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output tableEndpoint string = account.properties.primaryEndpoints.table
output ledgerTableId string = ledgerTable.id
output ledgerTableName string = ledgerTable.name
output deploymentContainerName string = deploymentContainer.name
output hostContainerNames array = [for (name, i) in hostContainerNames: hostContainers[i].name]
output deadLetterContainerId string = deadLetterContainer.id
output deadLetterContainerName string = deadLetterContainer.name
