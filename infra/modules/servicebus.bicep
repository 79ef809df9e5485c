@description('Azure region for the resources.')
param location string

@description('Service Bus namespace name.')
param name string

@description('Tags for every resource.')
param tags object

@description('Topic commercetools sends to (setting CommercetoolsTopic).')
param topicName string

@description('The relay\'s subscription on the topic (setting CommercetoolsSubscription).')
param subscriptionName string

@description('Deliveries of one message before it is dead-lettered.')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int

@description('Key Vault that receives the send-only connection string for the commercetools subscription.')
param keyVaultName string

@description('Days the relay remembers event ids (Relay:DedupeRetentionDays): no message may be delivered or resubmitted later than that, or its events could go twice.')
@minValue(7)
param dedupeRetentionDays int

// A message older than the dedupe window must never reach the relay: the topic and subscription keep one at most 14
// days, or the window if it is shorter.
var messageTtl = 'P${min(14, dedupeRetentionDays)}D'

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    minimumTlsVersion: '1.2'
    // The relay reads with its managed identity; only commercetools uses a key, the topic-scoped send rule below.
    disableLocalAuth: false
    // Public on purpose: commercetools sends from its own cloud, outside the relay's network (docs/deploy.md, "Network").
    publicNetworkAccess: 'Enabled'
  }
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: namespace
  name: topicName
  properties: {
    maxSizeInMegabytes: 5120
    defaultMessageTimeToLive: messageTtl
    requiresDuplicateDetection: false
    supportOrdering: false
  }
}

// A message that expires or fails maxDeliveryCount times is dead-lettered. The dead-letter sub-queue itself has no
// TTL, so dead letters are forwarded to a queue that keeps them only as long as the relay remembers event ids: one
// resubmitted from there is always deduplicated, and one older than that is gone rather than sent twice (docs/deploy.md).
resource deadLetters 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: '${subscriptionName}-deadletters'
  properties: {
    maxSizeInMegabytes: 5120
    defaultMessageTimeToLive: 'P${dedupeRetentionDays}D'
    deadLetteringOnMessageExpiration: false
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
  }
}

resource subscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: topic
  name: subscriptionName
  properties: {
    lockDuration: 'PT2M'
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    requiresSession: false
    defaultMessageTimeToLive: messageTtl
    forwardDeadLetteredMessagesTo: deadLetters.name
  }
}

// Send only, scoped to the topic: the one credential commercetools holds.
resource sendRule 'Microsoft.ServiceBus/namespaces/topics/authorizationRules@2022-10-01-preview' = {
  parent: topic
  name: 'commercetools-send'
  properties: { rights: [ 'Send' ] }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource sendConnection 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'commercetools-servicebus-send'
  properties: { value: sendRule.listKeys().primaryConnectionString }
}

output namespaceName string = namespace.name
output namespaceId string = namespace.id
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output topicId string = topic.id
output subscriptionId string = subscription.id
output deadLetterQueueName string = deadLetters.name
output sendConnectionSecretName string = sendConnection.name
