// Hosting plan + Linux Function App running the `ferry` custom handler.
// Flex Consumption (default) or Elastic Premium. System-assigned identity, HTTPS only,
// TLS 1.2, FTP and basic-auth publishing off, identity-based connections only.

param location string

@description('Hosting plan: FlexConsumption (default) or ElasticPremium.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param planKind string = 'FlexConsumption'

param planName string
param functionAppName string

@description('Elastic Premium SKU (ignored on Flex Consumption).')
@allowed([
  'EP1'
  'EP2'
  'EP3'
])
param premiumSku string = 'EP1'

@description('Flex Consumption instance memory in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on instances (Flex) or elastic workers (Premium).')
param maximumInstanceCount int = 40

param storageAccountName string
param storageBlobEndpoint string
param deploymentContainerName string

param serviceBusFullyQualifiedNamespace string
param serviceBusEndpoint string
param eventsQueueName string
param copyQueueName string
param alertsTopicName string

@description('Ledger table URL: https://<account>.table.core.windows.net/<table>.')
param ledgerUrl string

@description('Copy policy (see docs/deploy.md); serialized into FERRY_POLICY.')
param policy object

param appInsightsConnectionString string

@description('ARM endpoint the app calls.')
param armEndpoint string = 'https://management.azure.com'

@description('Optional api-version overrides; empty means the app default.')
param computeApiVersion string = ''
param diskApiVersion string = ''

@description('ISO 8601 duration after which a copy with no progress is reported stalled.')
param stallAfter string = 'PT6H'

@description('ISO 8601 duration before the two-week termination at which the app warns.')
param expiryWarning string = 'P2D'

@description('NCRONTAB schedule of the restore drill timer: hourly at minute 5 by default. Policy `drill.every` (weekly by default) decides how often each chain is drilled; the timer only has to run often enough to move a drill along (restore, then check and delete on the next run), so drill disks live about an hour.')
param drillSchedule string = '0 5 * * * *'

@description('Optional ARM request pacing overrides (requests per second); empty means the app default.')
param armReadRate string = ''
param armWriteRate string = ''

@description('Key Vault secret URI (https://<vault>.vault.azure.net/secrets/<name>) holding the alert webhook URL (FERRY_ALERT_WEBHOOK: an action group or Logic App endpoint, its query string a secret). Empty: no webhook. The app\'s identity needs Key Vault Secrets User on the secret.')
param alertWebhookSecretUri string = ''

param tags object = {}

var isFlex = planKind == 'FlexConsumption'

// Every setting the app and the Functions host read. The connection names match the
// `connection` properties in functions/*/function.json (ServiceBusConnection) and the
// host's AzureWebJobsStorage; both use the app's system-assigned identity.
var commonSettings = [
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'ServiceBusConnection__fullyQualifiedNamespace'
    value: serviceBusFullyQualifiedNamespace
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsightsConnectionString
  }
  {
    // Local auth is off on the component: ingest with the system-assigned identity.
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'Authorization=AAD'
  }
  {
    name: 'FERRY_ARM_ENDPOINT'
    value: armEndpoint
  }
  {
    name: 'FERRY_SERVICEBUS_ENDPOINT'
    value: serviceBusEndpoint
  }
  {
    name: 'FERRY_EVENTS_QUEUE'
    value: eventsQueueName
  }
  {
    name: 'FERRY_COPY_QUEUE'
    value: copyQueueName
  }
  {
    name: 'FERRY_ALERTS_TOPIC'
    value: alertsTopicName
  }
  {
    name: 'FERRY_LEDGER'
    value: ledgerUrl
  }
  {
    name: 'FERRY_POLICY'
    value: string(policy)
  }
  {
    name: 'FERRY_CREDENTIAL'
    value: 'managed-identity'
  }
  {
    // Empty = the system-assigned identity.
    name: 'FERRY_MANAGED_IDENTITY_CLIENT_ID'
    value: ''
  }
  {
    name: 'FERRY_LOG_FORMAT'
    value: 'json'
  }
  {
    name: 'FERRY_STALL_AFTER'
    value: stallAfter
  }
  {
    name: 'FERRY_DRILL_SCHEDULE'
    value: drillSchedule
  }
  {
    name: 'FERRY_EXPIRY_WARNING'
    value: expiryWarning
  }
]

// Optional overrides are only written when set, so the app's defaults apply otherwise.
// FERRY_ALERT_WEBHOOK is a Key Vault reference: the URL (its query string a secret) never
// sits in the app settings.
var optionalSettings = concat(
  empty(computeApiVersion) ? [] : [
    {
      name: 'FERRY_COMPUTE_API_VERSION'
      value: computeApiVersion
    }
  ],
  empty(diskApiVersion) ? [] : [
    {
      name: 'FERRY_DISK_API_VERSION'
      value: diskApiVersion
    }
  ],
  empty(armReadRate) ? [] : [
    {
      name: 'FERRY_ARM_READ_RATE'
      value: armReadRate
    }
  ],
  empty(armWriteRate) ? [] : [
    {
      name: 'FERRY_ARM_WRITE_RATE'
      value: armWriteRate
    }
  ],
  empty(alertWebhookSecretUri) ? [] : [
    {
      name: 'FERRY_ALERT_WEBHOOK'
      value: '@Microsoft.KeyVault(SecretUri=${alertWebhookSecretUri})'
    }
  ]
)

// Flex Consumption takes the runtime from functionAppConfig and rejects these settings.
// Elastic Premium runs from the zip package (WEBSITE_RUN_FROM_PACKAGE=1) so it needs no
// Azure Files content share, which would require a storage account key.
var premiumSettings = [
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'custom'
  }
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE'
    value: '1'
  }
]

var appSettings = concat(commonSettings, optionalSettings, isFlex ? [] : premiumSettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? {
    name: 'FC1'
    tier: 'FlexConsumption'
  } : {
    name: premiumSku
    tier: 'ElasticPremium'
  }
  // reserved: Linux. Flex scales per app (functionAppConfig), Premium per plan.
  properties: isFlex ? {
    reserved: true
  } : {
    reserved: true
    maximumElasticWorkerCount: maximumInstanceCount
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    reserved: true
    httpsOnly: true
    clientAffinityEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: appSettings
    }
    functionAppConfig: isFlex ? {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    } : null
  }
}

// No FTP and no basic-auth (publishing profile) deployments: deploys use Entra ID.
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output functionAppId string = functionApp.id
output functionAppName string = functionApp.name
output principalId string = functionApp.identity.principalId
output defaultHostName string = functionApp.properties.defaultHostName
output planKind string = planKind
