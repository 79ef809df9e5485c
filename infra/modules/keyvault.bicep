import { publicAccess, vaultAcls } from 'networkrules.bicep'

@description('Azure region for the resources.')
param location string

@description('Key Vault name.')
param name string

@description('Tags for every resource.')
param tags object

@description('mParticle credentials per input: [{ name, apiKey, apiSecret }]. Stored as secrets; never output.')
@secure()
param mparticleCredentials object

@description('Whether the vault takes traffic from public networks (Disabled needs a private endpoint and a VNet-integrated app; docs/deploy.md).')
@allowed([ 'Enabled', 'Disabled' ])
param publicNetworkAccess string

@description('Addresses (IPv4 or CIDR) let through when publicNetworkAccess is Disabled, e.g. an operator\'s for ctmp ... --azure.')
param allowedIpRanges array

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
    enablePurgeProtection: true
    publicNetworkAccess: publicAccess(publicNetworkAccess, allowedIpRanges)
    networkAcls: vaultAcls(publicNetworkAccess, allowedIpRanges)
  }
}

resource apiKeys 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for input in mparticleCredentials.inputs: {
  parent: vault
  name: 'mparticle-${input.name}-api-key'
  properties: { value: input.apiKey }
}]

resource apiSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for input in mparticleCredentials.inputs: {
  parent: vault
  name: 'mparticle-${input.name}-api-secret'
  properties: { value: input.apiSecret }
}]

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
