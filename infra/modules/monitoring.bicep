@description('Azure region for the resources.')
param location string

@description('Name prefix for the monitoring resources.')
param namePrefix string

@description('Tags for every resource.')
param tags object

@description('Service Bus namespace whose dead letters are alerted on.')
param serviceBusNamespaceId string

@description('The queue the commercetools subscription forwards its dead letters to.')
param deadLetterQueueName string

@description('E-mail address that receives the alerts; empty for none.')
param alertEmail string

@description('Quarantined inputs in 15 minutes above which an alert fires.')
@minValue(1)
param quarantineSpikeThreshold int

@description('Age in minutes of the oldest event waiting in the outbox above which an alert fires.')
@minValue(5)
param outboxAgeMinutes int = 30

@description('Share of mParticle requests in 15 minutes (at least 5) answered 4xx, 5xx or not at all, in percent, above which an alert fires.')
@minValue(1)
@maxValue(100)
param failedRequestPercent int = 20

@description('Requests held back in 15 minutes (throttled by mParticle, or resent identically after no answer) above which an alert fires.')
@minValue(1)
param heldRequestsThreshold int = 10

@description('Events held for consent in 15 minutes above which an alert fires (a consent source is not arriving).')
@minValue(1)
param consentBacklogThreshold int = 1000

resource workspace 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: '${namePrefix}-logs'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-insights'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: false
  }
}

// The relay logs every decision with a stable event id (RelayLog): the workbook and alerts read those traces.
// 1001 accepted, 1002 duplicate, 1003 filtered, 1004 quarantined, 1005 blocked by consent, 1007 plan violation,
// 2001 push summary (pending, oldest age), 2002 request sent (status), 2003 rate limited, 2004 auth failed, 2005 transient failure,
// 2006 rejected (split), 2008 input misconfigured, 2009 in-flight request resent, 2010 held for consent.
var relayTraces = 'traces | extend EventId = toint(customDimensions["EventId"]) | where customDimensions["CategoryName"] startswith "CtMparticle"'

// The relay's meter (RelayMetrics): counters and the histogram arrive in customMetrics with their tags in
// customDimensions; a counter's points are summed with valueSum.
var relayMetrics = 'customMetrics'

var workbookContent = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      content: { json: '## CtMparticle relay\nOutcomes of commercetools deliveries, pushes to mParticle, and what waits. Event ids: see RelayLog.' }
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        title: 'Deliveries by outcome'
        query: '${relayTraces} | where EventId in (1001, 1002, 1003, 1004) | extend Outcome = case(EventId == 1001, "delivered (accepted)", EventId == 1002, "duplicate", EventId == 1003, "filtered", "quarantined") | summarize count() by Outcome, bin(timestamp, 15m) | render timechart'
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        title: 'Filtered by reason'
        query: '${relayTraces} | where EventId == 1003 | summarize count() by Reason = tostring(customDimensions["Reason"]) | order by count_ desc'
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        title: 'Quarantined by reason'
        query: '${relayTraces} | where EventId == 1004 | summarize count() by Reason = tostring(customDimensions["Reason"]), Stage = tostring(customDimensions["Stage"]) | order by count_ desc'
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        title: 'Pending events and oldest pending age (s)'
        query: '${relayTraces} | where EventId == 2001 | project timestamp, Pending = toint(customDimensions["Pending"]), OldestAgeSeconds = todouble(customDimensions["OldestAgeSeconds"]) | render timechart'
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        title: 'mParticle responses (429, 5xx, auth)'
        query: '${relayTraces} | where EventId in (2002, 2003, 2004, 2005) | extend Status = iff(EventId == 2002, tostring(customDimensions["Status"]), case(EventId == 2003, "429", EventId == 2004, "401/403", "5xx/timeout")) | summarize count() by Status, bin(timestamp, 15m) | render timechart'
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 1
      content: { json: '### From the relay\'s metrics (meter CtMparticle.Relay, table customMetrics)' }
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        title: 'Events by outcome (ctmp.events)'
        query: '${relayMetrics} | where name == "ctmp.events" | summarize Events = sum(valueSum) by Outcome = tostring(customDimensions["outcome"]), bin(timestamp, 15m) | render timechart'
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        title: 'Inputs by outcome and reason (ctmp.deliveries)'
        query: '${relayMetrics} | where name == "ctmp.deliveries" | summarize Inputs = sum(valueSum) by Outcome = tostring(customDimensions["outcome"]), Reason = tostring(customDimensions["reason"]) | order by Inputs desc'
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        title: 'mParticle requests by input and status (ctmp.push.requests; 0: no answer)'
        query: '${relayMetrics} | where name == "ctmp.push.requests" | summarize Requests = sum(valueSum) by Input = tostring(customDimensions["input"]), Status = tostring(customDimensions["status"]), bin(timestamp, 15m) | render timechart'
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        title: 'mParticle latency by input, ms (ctmp.push.latency)'
        query: '${relayMetrics} | where name == "ctmp.push.latency" | summarize AverageMs = sum(valueSum) / sum(valueCount), MaxMs = max(valueMax) by Input = tostring(customDimensions["input"]), bin(timestamp, 15m) | render timechart'
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        title: 'Outbox: pending events and oldest age in s (ctmp.outbox.pending, ctmp.outbox.oldest_age)'
        query: '${relayMetrics} | where name in ("ctmp.outbox.pending", "ctmp.outbox.oldest_age") | summarize Value = max(value) by name, bin(timestamp, 5m) | render timechart'
        size: 0
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        title: 'Service Bus messages waiting (the subscription and its dead letters\' queue)'
        query: 'AzureMetrics | where ResourceId =~ "${serviceBusNamespaceId}" and MetricName == "ActiveMessages" | summarize max(Maximum) by bin(TimeGenerated, 15m) | render timechart'
        size: 0
        queryType: 0
        resourceType: 'microsoft.operationalinsights/workspaces'
      }
    }
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2022-04-01' = {
  name: guid(resourceGroup().id, namePrefix, 'relay-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'CtMparticle relay'
    category: 'workbook'
    sourceId: insights.id
    serializedData: string(workbookContent)
  }
}

resource actions 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-alerts'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'ctmparticle'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [ { name: 'operator', emailAddress: alertEmail, useCommonAlertSchema: true } ]
  }
}

resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'Messages were dead-lettered from the commercetools subscription (forwarded to ${deadLetterQueueName}): they failed maxDeliveryCount times (a transient failure that did not clear) or expired. Inspect and resubmit them before Relay:DedupeRetentionDays, when the queue drops them.'
    severity: 2
    enabled: true
    scopes: [ serviceBusNamespaceId ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'deadLettered'
          metricName: 'ActiveMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          dimensions: [ { name: 'EntityName', operator: 'Include', values: [ deadLetterQueueName ] } ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [ { actionGroupId: actions.id } ]
  }
}

resource quarantineSpike 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-quarantine-spike'
  location: location
  tags: tags
  properties: {
    description: 'Many inputs were quarantined in 15 minutes: a producer or a setting is broken. See the workbook and the quarantine container.'
    severity: 2
    enabled: true
    scopes: [ insights.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '${relayTraces} | where EventId == 1004'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: quarantineSpikeThreshold
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [ actions.id ] }
  }
}

resource failingPushes 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-failing-pushes'
  location: location
  tags: tags
  properties: {
    description: 'Pushes to mParticle keep failing (credentials refused, 4xx rejections, 5xx or timeouts, a misconfigured input): events are piling up in the outbox or being quarantined.'
    severity: 1
    enabled: true
    scopes: [ insights.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '${relayTraces} | where EventId in (2004, 2005, 2006, 2008)'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 5
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [ actions.id ] }
  }
}

// mParticle's answers, from the request counter (ctmp.push.requests by status; 0 is no answer): a share, not a count,
// so a busy hour with a few retried 503s does not page anyone, and a quiet one where everything fails does.
resource failedRequests 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-mparticle-errors'
  location: location
  tags: tags
  properties: {
    description: 'More than ${failedRequestPercent}% of the requests to mParticle in 15 minutes were answered 4xx or 5xx, or not at all. 4xx: see the quarantine (mparticle_rejected) and the input\'s credentials; 5xx or none: mParticle or the network; events wait in the outbox and go again.'
    severity: 2
    enabled: true
    scopes: [ insights.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '${relayMetrics} | where name == "ctmp.push.requests" | extend Status = toint(customDimensions["status"]) | summarize Failed = sumif(valueSum, Status == 0 or Status >= 400), Total = sum(valueSum) | where Total >= 5 | extend FailedPercent = 100.0 * Failed / Total'
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'FailedPercent'
          operator: 'GreaterThan'
          threshold: failedRequestPercent
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [ actions.id ] }
  }
}

// Requests the relay holds back: mParticle throttled the input (log 2003), or a request got no answer and is resent
// byte for byte by the next run (log 2009). A few are normal under load; many mean the input is saturated or unreachable.
resource heldRequests 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-held-requests'
  location: location
  tags: tags
  properties: {
    description: 'More than ${heldRequestsThreshold} requests to mParticle were held back in 15 minutes (rate limited, or resent after no answer). Check the input\'s rate limit in mParticle and the latency tile; events are not lost, they wait.'
    severity: 3
    enabled: true
    scopes: [ insights.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '${relayTraces} | where EventId in (2003, 2009)'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: heldRequestsThreshold
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [ actions.id ] }
  }
}

// The push reports the oldest pending event's age on every run (log 2001): a growing age means events are not leaving.
resource outboxAge 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-outbox-age'
  location: location
  tags: tags
  properties: {
    description: 'The oldest event in the outbox has waited more than ${outboxAgeMinutes} minutes: pushes are failing, throttled or not running. See the workbook (Push) and the failing-pushes alert.'
    severity: 2
    enabled: true
    scopes: [ insights.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '${relayTraces} | where EventId == 2001 | extend OldestAgeSeconds = todouble(customDimensions["OldestAgeSeconds"]) | where OldestAgeSeconds > ${outboxAgeMinutes * 60}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [ actions.id ] }
  }
}

// Events held because their user's consent is not known yet (log 2010): a backlog means consent is not arriving.
resource consentBacklog 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-consent-backlog'
  location: location
  tags: tags
  properties: {
    description: 'Many events are waiting for their users\' consent (opt-in regions): the CMP or commercetools consent fields may not be reaching the relay. Held events are withdrawn after Relay:ConsentWait.'
    severity: 3
    enabled: true
    scopes: [ insights.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '${relayTraces} | where EventId == 2010 | extend Held = toint(customDimensions["Count"])'
          timeAggregation: 'Total'
          metricMeasureColumn: 'Held'
          operator: 'GreaterThan'
          threshold: consentBacklogThreshold
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [ actions.id ] }
  }
}

output appInsightsName string = insights.name
output workspaceId string = workspace.id
output workbookId string = workbook.id
