// Service Bus namespace (Standard by default: topics and sessions need it; Premium for
// private endpoints) with local (SAS) auth disabled. Entities:
//  - events queue: Event Grid delivers ARM restore point events here; `ingest` reads it.
//  - copy queue: sessions (SessionId = chain key) so `sequencer` sees each chain in order,
//    duplicate detection (MessageId = dedupe key) so retried sends start nothing twice.
//  - alerts topic + `operators` subscription: the app's alert stream; `webhook`
//    subscription: the `alert-webhook` function's (Common Alert Schema webhook), its own
//    copy of every alert so redelivery retries a failing receiver without touching others.
// Dead-lettering is on everywhere so nothing is lost silently.

param location string

@description('Service Bus namespace name (globally unique).')
param namespaceName string

param eventsQueueName string = 'ferry-events'
param copyQueueName string = 'ferry-copy'
param alertsTopicName string = 'ferry-alerts'
param alertsSubscriptionName string = 'operators'

@description('The alerts topic subscription the alert-webhook function reads (functions/alert-webhook/function.json names it).')
param alertsWebhookSubscriptionName string = 'webhook'

@description('Standard, or Premium (one messaging unit), which private endpoints need.')
@allowed([
  'Standard'
  'Premium'
])
param sku string = 'Standard'

@description('Public network access: Enabled (default), or Disabled when every client reaches the namespace through a private endpoint (Premium only; docs/deploy.md).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('Window in which a repeated MessageId on the copy queue is dropped (max 7 days).')
param duplicateDetectionWindow string = 'P7D'

@description('Peek-lock duration; the sequencer renews locks itself up to host.json maxAutoLockRenewalDuration.')
param lockDuration string = 'PT5M'

@description('Deliveries before a message is dead-lettered.')
param maxDeliveryCount int = 10

param tags object = {}

var isPremium = sku == 'Premium'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: isPremium ? {
    name: 'Premium'
    tier: 'Premium'
    capacity: 1
  } : {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    // Entra ID only: no SAS keys exist that could leak.
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: publicNetworkAccess
  }
}

resource eventsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: eventsQueueName
  properties: {
    requiresSession: false
    // Event Grid retries deliveries; the ingest path is idempotent, and duplicate
    // detection drops a redelivered event id cheaply before it costs an invocation.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
  }
}

resource copyQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: copyQueueName
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
  }
}

resource alertsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: alertsTopicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    defaultMessageTimeToLive: 'P14D'
  }
}

resource alertsSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = {
  parent: alertsTopic
  name: alertsSubscriptionName
  properties: {
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    defaultMessageTimeToLive: 'P14D'
    lockDuration: 'PT1M'
    maxDeliveryCount: maxDeliveryCount
  }
}

resource alertsWebhookSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = {
  parent: alertsTopic
  name: alertsWebhookSubscriptionName
  properties: {
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    defaultMessageTimeToLive: 'P14D'
    lockDuration: 'PT5M'
    // Each delivery already retries the receiver with backoff; redelivery is the durable retry.
    maxDeliveryCount: maxDeliveryCount
  }
}

output namespaceId string = namespace.id
output namespaceName string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output endpoint string = 'https://${namespace.name}.servicebus.windows.net'
output eventsQueueId string = eventsQueue.id
output eventsQueueName string = eventsQueue.name
output copyQueueId string = copyQueue.id
output copyQueueName string = copyQueue.name
output alertsTopicId string = alertsTopic.id
output alertsTopicName string = alertsTopic.name
output alertsSubscriptionName string = alertsSubscription.name
