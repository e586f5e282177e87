// restore-point-ferry: everything the product needs, deployed at subscription scope.
//   az deployment sub create --location <region> --template-file infra/main.bicep \
//     --parameters infra/main.bicepparam
// See docs/deploy.md for what each resource is for.
targetScope = 'subscription'

@description('Region for the resource group and all regional resources (must offer Flex Consumption when planKind is FlexConsumption).')
param location string = deployment().location

@description('Short prefix for resource names (lowercase letters and digits).')
@minLength(2)
@maxLength(10)
param baseName string = 'ferry'

@description('Resource group that holds the ferry; created if missing.')
param resourceGroupName string = 'rg-${baseName}'

@description('Hosting plan for the Function App.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param planKind string = 'FlexConsumption'

@description('Copy policy, the JSON the app reads from FERRY_POLICY: {"rules":[{"scope","tag"?,"targets":[{"region","resourceGroup"?,"collectionName"?,"diskEncryptionSets"?}],"createTargetCollections","maxCopyDuration","rpoObjective","minConsistency"}]}.')
param policy object

@description('Where the ferry reads source restore points: every policy rule\'s source scope, as {subscriptionId, resourceGroup?}. Without resourceGroup the whole subscription. The read-only source role is assigned at each.')
param sourceScopes array

@description('Where the ferry creates target collections and copies: every target resource group of the policy, as {subscriptionId, resourceGroup}. The target role is assigned on each.')
param targetResourceGroups array

@description('Where restore drills create their disks, one per target region: {subscriptionId, resourceGroup, location, create?}. With create (default true) the deployment creates the resource group; with false it must exist. Names must match the policy drill.resourceGroup (default ferry-drill-{region}). The drill role (disk write, read, delete) is assigned on each and nowhere else.')
param drillResourceGroups array = []

@description('Let the ferry delete source restore points (pruning of copied incrementals, never the base): a separate delete-only role at each source scope. Off: the ferry\'s identity cannot delete anything on the source side.')
param allowSourcePruning bool = false

@description('Let the ferry put a delete lock on the base restore point of each chain: a separate lock-writing role at each source scope.')
param protectBaseRestorePoints bool = false

@description('Public network access to the storage account. Disabled needs private endpoints and VNet integration (docs/deploy.md).')
@allowed([
  'Enabled'
  'Disabled'
])
param storagePublicNetworkAccess string = 'Enabled'

@description('Public network access to the Service Bus namespace. Disabled needs serviceBusSku Premium, private endpoints and VNet integration (docs/deploy.md).')
@allowed([
  'Enabled'
  'Disabled'
])
param serviceBusPublicNetworkAccess string = 'Enabled'

@description('Service Bus tier: Standard, or Premium (private endpoints need it).')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@description('E-mail addresses for the alert action group.')
param alertEmails array = []

@description('Name of the Event Grid system topic for this subscription. Only one system topic per subscription can exist: if one already exists, deploy into its resource group with its name.')
param systemTopicName string = '${baseName}-subscription-events'

@description('Optional api-version overrides for the app (empty = the app default).')
param computeApiVersion string = ''
param diskApiVersion string = ''

@description('ISO 8601 duration without progress after which a copy is reported stalled.')
param stallAfter string = 'PT6H'

@description('ISO 8601 duration before the two-week termination at which a running copy raises a warning.')
param expiryWarning string = 'P2D'

@description('Optional ARM pacing overrides, requests per second (empty = the app default).')
param armReadRate string = ''
param armWriteRate string = ''

@description('Key Vault secret URI holding the alert webhook URL (Common Alert Schema; an action group or Logic App endpoint). Empty: no webhook. Grant the app\'s identity (output functionAppPrincipalId) Key Vault Secrets User on it.')
param alertWebhookSecretUri string = ''

param tags object = {
  application: 'restore-point-ferry'
}

var suffix = uniqueString(subscription().id, resourceGroupName, baseName)
var names = {
  storage: take('st${baseName}${suffix}', 24)
  serviceBus: 'sb-${baseName}-${suffix}'
  plan: 'plan-${baseName}-${suffix}'
  functionApp: 'func-${baseName}-${suffix}'
  workspace: 'log-${baseName}-${suffix}'
  appInsights: 'appi-${baseName}-${suffix}'
  actionGroup: 'ag-${baseName}'
  customRole: 'restore-point-ferry (${baseName}, ${subscription().subscriptionId})'
}

// Normalize the source scopes once: a missing or empty resourceGroup means the subscription.
var normalizedSources = [for s in sourceScopes: {
  subscriptionId: s.subscriptionId
  resourceGroup: contains(s, 'resourceGroup') ? s.resourceGroup : ''
}]
var sourceSubscriptions = filter(normalizedSources, s => empty(s.resourceGroup))
var sourceResourceGroups = filter(normalizedSources, s => !empty(s.resourceGroup))
var roleSubscriptionIds = union(map(sourceScopes, s => s.subscriptionId), map(targetResourceGroups, t => t.subscriptionId), map(drillResourceGroups, d => d.subscriptionId))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'ferry-monitoring'
  scope: rg
  params: {
    location: location
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'ferry-storage'
  scope: rg
  params: {
    location: location
    storageAccountName: names.storage
    publicNetworkAccess: storagePublicNetworkAccess
    tags: tags
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'ferry-servicebus'
  scope: rg
  params: {
    location: location
    namespaceName: names.serviceBus
    sku: serviceBusSku
    publicNetworkAccess: serviceBusPublicNetworkAccess
    tags: tags
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'ferry-functionapp'
  scope: rg
  params: {
    location: location
    planKind: planKind
    planName: names.plan
    functionAppName: names.functionApp
    storageAccountName: storage.outputs.accountName
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    serviceBusEndpoint: serviceBus.outputs.endpoint
    eventsQueueName: serviceBus.outputs.eventsQueueName
    copyQueueName: serviceBus.outputs.copyQueueName
    alertsTopicName: serviceBus.outputs.alertsTopicName
    ledgerUrl: '${storage.outputs.tableEndpoint}${storage.outputs.ledgerTableName}'
    policy: policy
    appInsightsConnectionString: monitoring.outputs.connectionString
    computeApiVersion: computeApiVersion
    diskApiVersion: diskApiVersion
    stallAfter: stallAfter
    expiryWarning: expiryWarning
    armReadRate: armReadRate
    armWriteRate: armWriteRate
    alertWebhookSecretUri: alertWebhookSecretUri
    tags: tags
  }
}

module dataRoles 'modules/data-roles.bicep' = {
  name: 'ferry-data-roles'
  scope: rg
  params: {
    principalId: functionApp.outputs.principalId
    planKind: planKind
    storageAccountName: storage.outputs.accountName
    hostContainerNames: storage.outputs.hostContainerNames
    deploymentContainerName: storage.outputs.deploymentContainerName
    ledgerTableName: storage.outputs.ledgerTableName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    eventsQueueName: serviceBus.outputs.eventsQueueName
    copyQueueName: serviceBus.outputs.copyQueueName
    alertsTopicName: serviceBus.outputs.alertsTopicName
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'ferry-eventgrid'
  scope: rg
  params: {
    systemTopicName: systemTopicName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    eventsQueueName: serviceBus.outputs.eventsQueueName
    storageAccountName: storage.outputs.accountName
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    tags: tags
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'ferry-workbook'
  scope: rg
  params: {
    location: location
    appInsightsId: monitoring.outputs.appInsightsId
    tags: tags
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'ferry-alerts'
  scope: rg
  params: {
    location: location
    actionGroupName: names.actionGroup
    alertEmails: alertEmails
    serviceBusNamespaceId: serviceBus.outputs.namespaceId
    alertsTopicName: serviceBus.outputs.alertsTopicName
    systemTopicId: eventGrid.outputs.systemTopicId
    appInsightsId: monitoring.outputs.appInsightsId
    tags: tags
  }
}

module customRole 'modules/custom-role.bicep' = {
  name: 'ferry-custom-role'
  params: {
    roleName: names.customRole
    assignableSubscriptionIds: roleSubscriptionIds
    allowSourcePruning: allowSourcePruning
    protectBaseRestorePoints: protectBaseRestorePoints
  }
}

// Source scopes: read only.
module sourceSubscriptionAssignments 'modules/role-assignment-subscription.bicep' = [for (s, i) in sourceSubscriptions: {
  name: 'ferry-role-source-sub-${i}'
  scope: subscription(s.subscriptionId)
  params: {
    principalId: functionApp.outputs.principalId
    roleDefinitionId: customRole.outputs.sourceReaderRoleId
    purpose: 'read source restore points'
  }
}]

module sourceResourceGroupAssignments 'modules/role-assignment-resource-group.bicep' = [for (s, i) in sourceResourceGroups: {
  name: 'ferry-role-source-rg-${i}'
  scope: resourceGroup(s.subscriptionId, s.resourceGroup)
  params: {
    principalId: functionApp.outputs.principalId
    roleDefinitionId: customRole.outputs.sourceReaderRoleId
    purpose: 'read source restore points'
  }
}]

// Target resource groups: create collections and copies, remove failed copies.
module targetAssignments 'modules/role-assignment-resource-group.bicep' = [for (t, i) in targetResourceGroups: {
  name: 'ferry-role-target-rg-${i}'
  scope: resourceGroup(t.subscriptionId, t.resourceGroup)
  params: {
    principalId: functionApp.outputs.principalId
    roleDefinitionId: customRole.outputs.targetWriterRoleId
    purpose: 'create target collections and copies'
  }
}]

// Drill resource groups: created (or taken as they are), then the drill role on each alone.
module drillGroups 'modules/drill-resource-group.bicep' = [for (d, i) in drillResourceGroups: {
  name: 'ferry-drill-rg-${i}'
  scope: subscription(d.subscriptionId)
  params: {
    name: d.resourceGroup
    location: d.location
    create: contains(d, 'create') ? d.create : true
    tags: tags
  }
}]

module drillAssignments 'modules/role-assignment-resource-group.bicep' = [for (d, i) in drillResourceGroups: {
  name: 'ferry-role-drill-rg-${i}'
  scope: resourceGroup(d.subscriptionId, d.resourceGroup)
  params: {
    principalId: functionApp.outputs.principalId
    roleDefinitionId: customRole.outputs.drillOperatorRoleId
    purpose: 'restore drills: create, check and delete drill disks'
  }
  dependsOn: [
    drillGroups[i]
  ]
}]

// Opt-in, each its own assignment at the source scopes: deleting source restore points...
module pruneSubscriptionAssignments 'modules/role-assignment-subscription.bicep' = [for (s, i) in (allowSourcePruning ? sourceSubscriptions : []): {
  name: 'ferry-role-prune-sub-${i}'
  scope: subscription(s.subscriptionId)
  params: {
    principalId: functionApp.outputs.principalId
    roleDefinitionId: customRole.outputs.sourcePrunerRoleId
    purpose: 'prune copied source restore points'
  }
}]

module pruneResourceGroupAssignments 'modules/role-assignment-resource-group.bicep' = [for (s, i) in (allowSourcePruning ? sourceResourceGroups : []): {
  name: 'ferry-role-prune-rg-${i}'
  scope: resourceGroup(s.subscriptionId, s.resourceGroup)
  params: {
    principalId: functionApp.outputs.principalId
    roleDefinitionId: customRole.outputs.sourcePrunerRoleId
    purpose: 'prune copied source restore points'
  }
}]

// ...and locking base restore points.
module lockSubscriptionAssignments 'modules/role-assignment-subscription.bicep' = [for (s, i) in (protectBaseRestorePoints ? sourceSubscriptions : []): {
  name: 'ferry-role-lock-sub-${i}'
  scope: subscription(s.subscriptionId)
  params: {
    principalId: functionApp.outputs.principalId
    roleDefinitionId: customRole.outputs.baseLockerRoleId
    purpose: 'lock base restore points'
  }
}]

module lockResourceGroupAssignments 'modules/role-assignment-resource-group.bicep' = [for (s, i) in (protectBaseRestorePoints ? sourceResourceGroups : []): {
  name: 'ferry-role-lock-rg-${i}'
  scope: resourceGroup(s.subscriptionId, s.resourceGroup)
  params: {
    principalId: functionApp.outputs.principalId
    roleDefinitionId: customRole.outputs.baseLockerRoleId
    purpose: 'lock base restore points'
  }
}]

output resourceGroupName string = rg.name
output functionAppName string = functionApp.outputs.functionAppName
output functionAppHostName string = functionApp.outputs.defaultHostName
output functionAppPrincipalId string = functionApp.outputs.principalId
output planKind string = planKind
output storageAccountName string = storage.outputs.accountName
output serviceBusNamespace string = serviceBus.outputs.namespaceName
output alertsTopicName string = serviceBus.outputs.alertsTopicName
output alertsSubscriptionName string = serviceBus.outputs.alertsSubscriptionName
output systemTopicName string = eventGrid.outputs.systemTopicName
output sourceRoleDefinitionId string = customRole.outputs.sourceReaderRoleId
output targetRoleDefinitionId string = customRole.outputs.targetWriterRoleId
output drillRoleDefinitionId string = customRole.outputs.drillOperatorRoleId
output sourcePrunerRoleDefinitionId string = customRole.outputs.sourcePrunerRoleId
output baseLockerRoleDefinitionId string = customRole.outputs.baseLockerRoleId
