import { publicAccess, storageAcls } from 'networkrules.bicep'

@description('Azure region for the resources.')
param location string

@description('Storage account name for the Functions host (3-24 lowercase letters and digits).')
param name string

@description('Tags for every resource.')
param tags object

@description('Whether the account takes traffic from public networks (Disabled needs private endpoints and a VNet-integrated app; docs/deploy.md).')
@allowed([ 'Enabled', 'Disabled' ])
param publicNetworkAccess string

@description('Addresses (IPv4 or CIDR) let through when publicNetworkAccess is Disabled, e.g. an operator\'s for ctmp ... --azure.')
param allowedIpRanges array

// The Functions host's own account (AzureWebJobsStorage: timer and singleton leases, the deployment package), apart
// from the relay's data: the host needs blob ownership here, and that must not reach the relay's tables or quarantine.
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

resource deployments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'deployments'
  properties: { publicAccess: 'None' }
}

output name string = account.name
output id string = account.id
output deploymentsContainerUrl string = '${account.properties.primaryEndpoints.blob}${deployments.name}'
