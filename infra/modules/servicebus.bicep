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

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    minimumTlsVersion: '1.2'
    // The relay reads with its managed identity; only commercetools uses a key, the topic-scoped send rule below.
    disableLocalAuth: false
  }
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: namespace
  name: topicName
  properties: {
    maxSizeInMegabytes: 5120
    defaultMessageTimeToLive: 'P14D'
    requiresDuplicateDetection: false
    supportOrdering: false
  }
}

// A message that expires or fails maxDeliveryCount times moves to the dead-letter sub-queue, where no TTL applies: it
// stays until someone resubmits or deletes it. Resubmit within Relay:DedupeRetentionDays (= quarantineRetentionDays) of
// its first delivery, while its events' dedupe records are still kept (docs/deploy.md).
resource subscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: topic
  name: subscriptionName
  properties: {
    lockDuration: 'PT2M'
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    requiresSession: false
    defaultMessageTimeToLive: 'P14D'
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
output sendConnectionSecretName string = sendConnection.name
