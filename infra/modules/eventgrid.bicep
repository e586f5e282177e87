// Event Grid system topic on the subscription (Microsoft.Resources.Subscriptions) and an
// event subscription that delivers restore point write/delete events to the events queue
// with the topic's managed identity. Failed deliveries are dead-lettered to blob storage,
// also with the managed identity (no SAS, no keys).

@description('Name of the system topic. A subscription can have only one system topic; reuse its name if one exists.')
param systemTopicName string

param eventSubscriptionName string = 'restore-points-to-ferry'

param serviceBusNamespaceName string
param eventsQueueName string

param storageAccountName string
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered (1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an undelivered event is retried before it is dead-lettered (1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

param tags object = {}

var sbDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

// ARM emits these operation names for restore points; nothing else reaches the app.
var restorePointOperations = [
  'Microsoft.Compute/restorePointCollections/restorePoints/write'
  'Microsoft.Compute/restorePointCollections/restorePoints/delete'
]

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource eventsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: eventsQueueName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

// The topic's identity may send to the events queue only.
resource topicSendsToQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsQueue.id, systemTopic.id, sbDataSender)
  scope: eventsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sbDataSender)
    principalId: systemTopic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// ...and write dead letters into its own container only.
resource topicWritesDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, systemTopic.id, blobDataContributor)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: systemTopic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: eventSubscriptionName
  dependsOn: [
    topicSendsToQueue
    topicWritesDeadLetters
  ]
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'ServiceBusQueue'
        properties: {
          resourceId: eventsQueue.id
        }
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
      ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: restorePointOperations
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output systemTopicId string = systemTopic.id
output systemTopicName string = systemTopic.name
output eventSubscriptionName string = eventSubscription.name
