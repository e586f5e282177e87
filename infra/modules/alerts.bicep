// Operator alerting:
//  - dead-lettered messages on any Service Bus entity (events, copy, alerts subscription);
//  - the app's alert stream: any message arriving on the alerts topic;
//  - events Event Grid could not deliver (dead-lettered to blob);
//  - error-level traces from the app in Application Insights (Log Analytics query).
// All rules notify one action group.

param location string
param actionGroupName string

@maxLength(12)
param actionGroupShortName string = 'ferry'

@description('E-mail addresses notified by the action group.')
param alertEmails array = []

param serviceBusNamespaceId string
param alertsTopicName string
param systemTopicId string
param appInsightsId string

param tags object = {}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: actionGroupShortName
    enabled: true
    emailReceivers: [for (address, i) in alertEmails: {
      name: 'email-${i}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
  }
}

resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'ferry-servicebus-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'A Service Bus message was dead-lettered (events, copy or alerts entity). Inspect the entity\'s $DeadLetterQueue.'
    severity: 1
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadletteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource appAlerts 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'ferry-app-alerts'
  location: 'global'
  tags: tags
  properties: {
    description: 'The ferry published an alert (copy failed, expired, stalled, RPO breached, rejected...). Read it from the alerts topic subscription.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'AlertsTopicIncoming'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'IncomingMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                alertsTopicName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource undeliveredEvents 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'ferry-eventgrid-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid could not deliver a restore point event to the events queue; it is in the dead-letter container.'
    severity: 1
    enabled: true
    scopes: [
      systemTopicId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredCount'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource appErrors 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'ferry-app-errors'
  location: location
  tags: tags
  properties: {
    description: 'The ferry logged errors (structured JSON logs, via the Functions host into Application Insights).'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where severityLevel >= 3 | project timestamp, message, operation_Name, severityLevel'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
