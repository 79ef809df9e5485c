@description('Azure region for the resources.')
param location string

@description('Function app name.')
param name string

@description('Tags for every resource.')
param tags object

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (identity-based connections name it).')
param identityClientId string

@description('The relay\'s storage account (Storage:*: tables and the quarantine container).')
param storageAccountName string

@description('The Functions host\'s storage account (AzureWebJobsStorage).')
param hostStorageAccountName string

@description('Blob container URL for Flex Consumption deployment packages.')
param deploymentContainerUrl string

@description('Service Bus namespace host name (xxx.servicebus.windows.net).')
param serviceBusFullyQualifiedNamespace string

@description('Topic and subscription the relay reads.')
param topicName string

@description('The relay\'s subscription on the topic.')
param subscriptionName string

@description('Key Vault holding the mParticle (and commercetools) secrets.')
param keyVaultName string

@description('Application Insights component name.')
param appInsightsName string

@description('mParticle environment on every batch: production or development.')
@allowed([ 'production', 'development' ])
param mparticleEnvironment string

@description('mParticle inputs: [{ name, pod }]; their key and secret are Key Vault secrets mparticle-<name>-api-key / -api-secret.')
param mparticleInputs array

@description('commercetools store keys and the input each goes to: [{ key, input, defaultCountry }].')
param stores array

@description('Input for events with no store or an unlisted store.')
param defaultInput string

@description('NCRONTAB schedules of the push, the dedupe retention and the consent reconciliation.')
param schedules object

@description('commercetools API for fetches and consent reconciliation: { projectKey, apiUrl, authUrl, clientId }; empty projectKey disables it. Its secret is the Key Vault secret commercetools-client-secret.')
param commercetools object

@description('Days the relay remembers event ids (Relay:DedupeRetentionDays): at least as long as quarantine records are kept, so a replay of any kept record is still deduplicated.')
@minValue(1)
@maxValue(3650)
param dedupeRetentionDays int

@description('Days quarantine records are kept (Relay:QuarantineRetentionDays; the container\'s lifecycle rule uses the same value): events quarantined at push stay restorable as long. The relay refuses to start when it exceeds dedupeRetentionDays.')
@minValue(1)
@maxValue(3650)
param quarantineRetentionDays int

@description('Most instances the Flex Consumption plan may scale to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Subnet the app\'s outbound traffic enters a virtual network through (delegated to Microsoft.App/environments); empty for none.')
param subnetId string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${name}-plan'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

var keyVaultRef = '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName='

var baseSettings = [
  // Host storage, identity-based (shared keys are off on the account).
  { name: 'AzureWebJobsStorage__accountName', value: hostStorageAccountName }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
  // Service Bus trigger, identity-based.
  { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: serviceBusFullyQualifiedNamespace }
  { name: 'ServiceBusConnection__credential', value: 'managedidentity' }
  { name: 'ServiceBusConnection__clientId', value: identityClientId }
  { name: 'CommercetoolsTopic', value: topicName }
  { name: 'CommercetoolsSubscription', value: subscriptionName }
  { name: 'PushSchedule', value: schedules.push }
  { name: 'RetentionSchedule', value: schedules.retention }
  { name: 'ReconcileSchedule', value: schedules.reconcile }
  { name: 'Relay__DedupeRetentionDays', value: string(dedupeRetentionDays) }
  { name: 'Relay__QuarantineRetentionDays', value: string(quarantineRetentionDays) }
  // The relay's own storage (Storage:*), through the same identity.
  { name: 'Storage__TableServiceUri', value: storage.properties.primaryEndpoints.table }
  { name: 'Storage__BlobServiceUri', value: storage.properties.primaryEndpoints.blob }
  { name: 'Storage__ManagedIdentityClientId', value: identityClientId }
  { name: 'Mapping__Environment', value: mparticleEnvironment }
  { name: 'MParticle__DefaultInput', value: defaultInput }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
  { name: 'Commercetools__ProjectKey', value: commercetools.projectKey }
  { name: 'Commercetools__ApiUrl', value: commercetools.apiUrl }
  { name: 'Commercetools__AuthUrl', value: commercetools.authUrl }
  { name: 'Commercetools__ClientId', value: commercetools.clientId }
  { name: 'Commercetools__ClientSecretSetting', value: 'Commercetools_ClientSecret' }
  { name: 'Commercetools_ClientSecret', value: '${keyVaultRef}commercetools-client-secret)' }
]

// Each input: its pod and the names of the settings holding its key and secret, which are Key Vault references.
var inputSettings = flatten(map(range(0, length(mparticleInputs)), i => [
  { name: 'MParticle__Inputs__${i}__Name', value: mparticleInputs[i].name }
  { name: 'MParticle__Inputs__${i}__Pod', value: mparticleInputs[i].pod }
  { name: 'MParticle__Inputs__${i}__ApiKeySetting', value: 'MParticle_${replace(mparticleInputs[i].name, '-', '_')}_ApiKey' }
  { name: 'MParticle__Inputs__${i}__ApiSecretSetting', value: 'MParticle_${replace(mparticleInputs[i].name, '-', '_')}_ApiSecret' }
  { name: 'MParticle_${replace(mparticleInputs[i].name, '-', '_')}_ApiKey', value: '${keyVaultRef}mparticle-${mparticleInputs[i].name}-api-key)' }
  { name: 'MParticle_${replace(mparticleInputs[i].name, '-', '_')}_ApiSecret', value: '${keyVaultRef}mparticle-${mparticleInputs[i].name}-api-secret)' }
]))

var storeSettings = flatten(map(range(0, length(stores)), i => [
  { name: 'MParticle__Stores__${i}__Key', value: stores[i].key }
  { name: 'MParticle__Stores__${i}__Input', value: stores[i].input }
  { name: 'MParticle__Stores__${i}__DefaultCountry', value: stores[i].defaultCountry }
]))

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Flex Consumption sends all outbound traffic (storage, Key Vault references, mParticle) into the network when
    // integrated. Inbound stays public: browsers post storefront calls to /v1/batch.
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: 2048 }
      runtime: { name: 'dotnet-isolated', version: '10.0' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: concat(baseSettings, inputSettings, storeSettings)
    }
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
