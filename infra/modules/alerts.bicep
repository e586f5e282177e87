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

// RPO above the objective, per chain. A scheduled query rule, not a metric alert rule: a
// chain's objective comes from its policy rule and differs between chains, and a metric
// alert compares with one static threshold (and sees custom-metric dimensions only with
// the component's dimension setting turned on); the query compares each chain's latest
// ferry_rpo_seconds with its own ferry_rpo_objective_seconds. Split by chain, so each
// chain fires on its own and Azure Monitor resolves it when the chain is back within.
resource rpoAboveObjective 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'ferry-rpo-above-objective'
  location: location
  tags: tags
  properties: {
    description: 'A chain\'s RPO (age of the newest restore point safely in the target region) is above its objective. See the restore-point-ferry Workbook and the chain\'s copies (ferry status).'
    severity: 1
    enabled: true
    scopes: [
      appInsightsId
    ]
    // ferry reports RPO every 10 minutes (the poller's tick).
    evaluationFrequency: 'PT10M'
    windowSize: 'PT30M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: 'let rpo = customMetrics | where name == \'ferry_rpo_seconds\' | extend sourceCollection = tostring(customDimensions.sourceCollection), targetRegion = tostring(customDimensions.targetRegion) | summarize arg_max(timestamp, value) by sourceCollection, targetRegion; let objective = customMetrics | where name == \'ferry_rpo_objective_seconds\' | extend sourceCollection = tostring(customDimensions.sourceCollection), targetRegion = tostring(customDimensions.targetRegion) | summarize arg_max(timestamp, value) by sourceCollection, targetRegion | project sourceCollection, targetRegion, objectiveSeconds = value; rpo | join kind=inner objective on sourceCollection, targetRegion | where value > objectiveSeconds | project timestamp, sourceCollection, targetRegion, rpoHours = value / 3600.0'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'sourceCollection'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'targetRegion'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
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
