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

@description('Whether the storage accounts and Key Vault take traffic from public networks. Disabled (the production setting) creates a virtual network, integrates the function app with it, and reaches both storage accounts and the vault through private endpoints only. Enabled is for a trial: no network is created (docs/deploy.md).')
@allowed([ 'Enabled', 'Disabled' ])
param publicNetworkAccess string = 'Disabled'

@description('Address space of the network created when publicNetworkAccess is Disabled (at least a /23; its first /24 is the app\'s subnet, its second the private endpoints\').')
param networkAddressPrefix string = '10.40.0.0/23'

@description('Addresses (IPv4 or CIDR) the storage accounts and vault still let through when publicNetworkAccess is Disabled: an operator\'s, for ctmp ... --azure from outside the network. Empty: private endpoints only.')
param allowedIpRanges array = []

var suffix = uniqueString(resourceGroup().id, workload)
var prefix = 'ctmp-${workload}'
var tableNames = [ 'ctmpevents', 'ctmporders', 'ctmpconsent', 'ctmplinks' ]
var isolated = publicNetworkAccess == 'Disabled'

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
    allowedIpRanges: allowedIpRanges
  }
}

module hostStorage 'modules/hoststorage.bicep' = {
  name: 'hoststorage'
  params: {
    location: location
    name: take('ctmphost${toLower(workload)}${suffix}', 24)
    tags: tags
    publicNetworkAccess: publicNetworkAccess
    allowedIpRanges: allowedIpRanges
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: { location: location, name: take('ctmp-${workload}-${suffix}', 24), tags: tags, mparticleCredentials: mparticleCredentials, publicNetworkAccess: publicNetworkAccess, allowedIpRanges: allowedIpRanges }
}

// Private networking (publicNetworkAccess Disabled): the app's outbound traffic enters the network, and the relay's
// tables and quarantine, the host's blobs and queues, and the vault are reached through private endpoints. Service Bus
// and Application Insights stay public on purpose: commercetools sends from its own cloud, and ingestion needs no
// inbound path (docs/deploy.md, "Network").
module network 'modules/network.bicep' = if (isolated) {
  name: 'network'
  params: { location: location, name: '${prefix}-network', tags: tags, addressPrefix: networkAddressPrefix }
}

module privateEndpoints 'modules/privateendpoints.bicep' = if (isolated) {
  name: 'privateendpoints'
  params: {
    location: location
    tags: tags
    subnetId: isolated ? network!.outputs.endpointSubnetId : ''
    endpoints: isolated ? [
      { name: '${prefix}-relay-table', resourceId: storage.outputs.id, groupId: 'table', zoneId: network!.outputs.zoneIds.table }
      { name: '${prefix}-relay-blob', resourceId: storage.outputs.id, groupId: 'blob', zoneId: network!.outputs.zoneIds.blob }
      { name: '${prefix}-host-blob', resourceId: hostStorage.outputs.id, groupId: 'blob', zoneId: network!.outputs.zoneIds.blob }
      { name: '${prefix}-host-queue', resourceId: hostStorage.outputs.id, groupId: 'queue', zoneId: network!.outputs.zoneIds.queue }
      { name: '${prefix}-host-table', resourceId: hostStorage.outputs.id, groupId: 'table', zoneId: network!.outputs.zoneIds.table }
      { name: '${prefix}-vault', resourceId: vault.outputs.id, groupId: 'vault', zoneId: network!.outputs.zoneIds.vault }
    ] : []
  }
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
  // The app starts only once its identity's roles and, when private, the endpoints its storage is reached through exist.
  dependsOn: [ roles, privateEndpoints ]
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
    subnetId: isolated ? network!.outputs.appSubnetId : ''
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
