// Data-plane role assignments for the Function App's system-assigned identity, each on
// the narrowest resource that works: the queue, topic, table or blob container it uses,
// never the namespace or the whole account. `ferry permissions` lists what the app's own
// code needs (Service Bus entities, the ledger); the blob roles are for the Functions host
// and the Flex Consumption deployment.

@description('Object id of the Function App system-assigned identity.')
param principalId string

@description('Hosting plan: FlexConsumption deploys through the deployment container, ElasticPremium does not.')
param planKind string

param storageAccountName string

@description('The Functions host\'s blob containers (azure-webjobs-hosts, azure-webjobs-secrets).')
param hostContainerNames array

@description('The Flex Consumption deployment package container.')
param deploymentContainerName string

param ledgerTableName string
param serviceBusNamespaceName string
param eventsQueueName string
param copyQueueName string
param alertsTopicName string
param appInsightsName string

// Built-in role definition ids (the same in every tenant).
var roles = {
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

var isFlex = planKind == 'FlexConsumption'

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource hostContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for name in hostContainerNames: {
  parent: blobService
  name: name
}]

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deploymentContainerName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource ledgerTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  parent: tableService
  name: ledgerTableName
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource eventsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: eventsQueueName
}

resource copyQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: copyQueueName
}

resource alertsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' existing = {
  parent: namespace
  name: alertsTopicName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Functions host (AzureWebJobsStorage): read, write and lease blobs in its own two
// containers (host id lock, singleton and timer leases, timer schedule status; host and
// function keys). Contributor, not Owner: Owner adds only ACL management for hierarchical
// namespace accounts, which this is not. Nothing else in the account.
resource hostContainerContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in hostContainerNames: {
  name: guid(hostContainers[i].id, principalId, roles.storageBlobDataContributor)
  scope: hostContainers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

// Flex Consumption: the platform's one-deploy endpoint (az functionapp deployment source
// config-zip) uploads the package into this container with the app's identity
// (functionAppConfig.deployment.storage.authentication), and the instances read it from
// there, so the identity writes this one container. It cannot touch any other.
resource deploymentPackageWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isFlex) {
  name: guid(deploymentContainer.id, principalId, roles.storageBlobDataContributor)
  scope: deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Elastic Premium deploys into the app itself (WEBSITE_RUN_FROM_PACKAGE=1) and needs no
// blob for it; read access to the package container covers only the documented fallback of
// running from a package blob URL that the deploying identity uploads (docs/deploy.md).
resource deploymentPackageReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!isFlex) {
  name: guid(deploymentContainer.id, principalId, roles.storageBlobDataReader)
  scope: deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The ledger: the only table the app touches.
resource ledgerTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(ledgerTable.id, principalId, roles.storageTableDataContributor)
  scope: ledgerTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// `ingest` re-queues an event here, scheduled for later, when ARM cannot answer; without
// this role every re-queue fails and the event is dead-lettered after maxDeliveryCount.
resource eventsQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, principalId, roles.serviceBusDataSender)
  scope: eventsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// `ingest` is triggered by the events queue.
resource eventsQueueReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, principalId, roles.serviceBusDataReceiver)
  scope: eventsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// `ingest` sends copy requests (REST, with SessionId) to the copy queue.
resource copyQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(copyQueue.id, principalId, roles.serviceBusDataSender)
  scope: copyQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// `sequencer` is triggered by the copy queue (sessions).
resource copyQueueReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(copyQueue.id, principalId, roles.serviceBusDataReceiver)
  scope: copyQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// ferry sends its alerts to the alerts topic itself (REST, MessageId = the alert's id).
resource alertsTopicSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(alertsTopic.id, principalId, roles.serviceBusDataSender)
  scope: alertsTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The alert-webhook function is triggered from the alerts topic's `webhook` subscription.
resource alertsTopicReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(alertsTopic.id, principalId, roles.serviceBusDataReceiver)
  scope: alertsTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Entra-authenticated telemetry ingestion (local auth is disabled on the component).
resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
