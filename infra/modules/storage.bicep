import { publicAccess, storageAcls } from 'networkrules.bicep'

@description('Azure region for the resources.')
param location string

@description('Storage account name (3-24 lowercase letters and digits).')
param name string

@description('Tags for every resource.')
param tags object

@description('Days a quarantine record is kept before the lifecycle rule deletes it.')
@minValue(7)
@maxValue(3650)
param quarantineRetentionDays int

@description('Tables the relay keeps its state in (dedupe + outbox, order context, consent, identity links). Names match Storage:*Table settings.')
param tableNames array

@description('Whether the account takes traffic from public networks (Disabled needs private endpoints and a VNet-integrated app; docs/deploy.md).')
@allowed([ 'Enabled', 'Disabled' ])
param publicNetworkAccess string

@description('Addresses (IPv4 or CIDR) let through when publicNetworkAccess is Disabled, e.g. an operator\'s for ctmp ... --azure.')
param allowedIpRanges array

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    // Identity-based connections only: the relay uses the managed identity.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: publicAccess(publicNetworkAccess, allowedIpRanges)
    networkAcls: storageAcls(publicNetworkAccess, allowedIpRanges)
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource quarantine 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'quarantine'
  properties: { publicAccess: 'None' }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for table in tableNames: {
  parent: tableService
  name: table
}]

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-quarantine'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: { blobTypes: [ 'blockBlob' ], prefixMatch: [ 'quarantine/' ] }
            actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: quarantineRetentionDays } } }
          }
        }
      ]
    }
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output tableEndpoint string = account.properties.primaryEndpoints.table
output quarantineContainerId string = quarantine.id
