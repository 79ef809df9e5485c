// CtMparticle on Azure: the function app (Flex Consumption, .NET 10 isolated) with its managed identity, storage
// (relay tables, quarantine container), Service Bus topic for commercetools, Key Vault, and monitoring (workbook,
// alerts). Local modules only: public br/public: modules cannot be restored in this project's build.
targetScope = 'resourceGroup'

@description('Azure region for every resource.')
param location string = resourceGroup().location

@description('Short name of this deployment (letters and digits), used in resource names, e.g. acme or acmeprod.')
@minLength(3)
@maxLength(11)
param workload string

@description('mParticle environment every batch is sent with: production or development.')
@allowed([ 'production', 'development' ])
param mparticleEnvironment string = 'production'

@description('mParticle inputs: [{ name, pod }] (pod US1, US2, EU1 or AU1).')
param mparticleInputs array

@description('The key and secret of each input: { inputs: [{ name, apiKey, apiSecret }] }. Written to Key Vault only.')
@secure()
param mparticleCredentials object

@description('commercetools store keys and their input: [{ key, input, defaultCountry }].')
param stores array

@description('Input for events with no store or an unlisted store.')
param defaultInput string

@description('commercetools API for fetches and consent reconciliation: { projectKey, apiUrl, authUrl, clientId } (empty projectKey disables it). Put the client secret in Key Vault as commercetools-client-secret.')
param commercetools object = { projectKey: '', apiUrl: '', authUrl: '', clientId: '' }

@description('Topic commercetools sends to.')
param topicName string = 'commercetools'

@description('The relay\'s subscription on the topic.')
param subscriptionName string = 'ctmparticle'

@description('Deliveries of one message before Service Bus dead-letters it.')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int = 10

@description('NCRONTAB schedules: { push, retention, reconcile }.')
param schedules object = { push: '*/30 * * * * *', retention: '0 15 3 * * *', reconcile: '0 5 * * * *' }

@description('Days quarantine records are kept; the relay remembers event ids (Relay:DedupeRetentionDays) as long, so replaying any kept record is deduplicated.')
@minValue(7)
param quarantineRetentionDays int = 90

@description('E-mail for alerts; empty for none.')
param alertEmail string = ''

@description('Quarantined inputs in 15 minutes above which an alert fires.')
@minValue(1)
param quarantineSpikeThreshold int = 50

@description('Most instances the function app may scale to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Tags for every resource.')
param tags object = { application: 'ctmparticle' }

@description('Whether the storage accounts and Key Vault take traffic from public networks. Disabled needs private endpoints and a VNet-integrated Flex plan, which this template does not create yet (docs/deploy.md).')
@allowed([ 'Enabled', 'Disabled' ])
param publicNetworkAccess string = 'Enabled'

var suffix = uniqueString(resourceGroup().id, workload)
var prefix = 'ctmp-${workload}'
var tableNames = [ 'ctmpevents', 'ctmporders', 'ctmpconsent', 'ctmplinks' ]

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: { location: location, name: '${prefix}-identity', tags: tags }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    name: take('ctmp${toLower(workload)}${suffix}', 24)
    tags: tags
    quarantineRetentionDays: quarantineRetentionDays
    tableNames: tableNames
    publicNetworkAccess: publicNetworkAccess
  }
}

module hostStorage 'modules/hoststorage.bicep' = {
  name: 'hoststorage'
  params: {
    location: location
    name: take('ctmphost${toLower(workload)}${suffix}', 24)
    tags: tags
    publicNetworkAccess: publicNetworkAccess
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: { location: location, name: take('ctmp-${workload}-${suffix}', 24), tags: tags, mparticleCredentials: mparticleCredentials, publicNetworkAccess: publicNetworkAccess }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    location: location
    name: '${prefix}-${suffix}'
    tags: tags
    topicName: topicName
    subscriptionName: subscriptionName
    maxDeliveryCount: maxDeliveryCount
    keyVaultName: vault.outputs.name
    dedupeRetentionDays: quarantineRetentionDays
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    namePrefix: prefix
    tags: tags
    serviceBusNamespaceId: serviceBus.outputs.namespaceId
    deadLetterQueueName: serviceBus.outputs.deadLetterQueueName
    alertEmail: alertEmail
    quarantineSpikeThreshold: quarantineSpikeThreshold
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    tableNames: tableNames
    hostStorageAccountName: hostStorage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    topicName: topicName
    keyVaultName: vault.outputs.name
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  dependsOn: [ roles ]
  params: {
    location: location
    name: '${prefix}-${suffix}'
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    hostStorageAccountName: hostStorage.outputs.name
    deploymentContainerUrl: hostStorage.outputs.deploymentsContainerUrl
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    topicName: topicName
    subscriptionName: subscriptionName
    keyVaultName: vault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    mparticleEnvironment: mparticleEnvironment
    mparticleInputs: mparticleInputs
    stores: stores
    defaultInput: defaultInput
    schedules: schedules
    dedupeRetentionDays: quarantineRetentionDays
    quarantineRetentionDays: quarantineRetentionDays
    commercetools: commercetools
    maximumInstanceCount: maximumInstanceCount
  }
}

output functionAppName string = functionApp.outputs.name
output storageAccountName string = storage.outputs.name
output hostStorageAccountName string = hostStorage.outputs.name
output deadLetterQueueName string = serviceBus.outputs.deadLetterQueueName
output keyVaultName string = vault.outputs.name
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output commercetoolsSendSecretName string = serviceBus.outputs.sendConnectionSecretName
output workbookId string = monitoring.outputs.workbookId
