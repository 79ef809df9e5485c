// How the storage accounts and the vault take traffic, from two parameters: publicNetworkAccess (Disabled: private
// endpoints only) and allowedIpRanges (operators' addresses, e.g. for ctmp ... --azure, let through beside the endpoints).

@export()
@description('The resource\'s publicNetworkAccess: Disabled only when nothing public is let through at all.')
func publicAccess(publicNetworkAccess string, allowedIpRanges array) string =>
  publicNetworkAccess == 'Disabled' && empty(allowedIpRanges) ? 'Disabled' : 'Enabled'

@export()
@description('A storage account\'s networkAcls: deny by default when private, except the listed ranges and trusted Azure services.')
func storageAcls(publicNetworkAccess string, allowedIpRanges array) object => {
  defaultAction: publicNetworkAccess == 'Disabled' ? 'Deny' : 'Allow'
  bypass: 'AzureServices'
  ipRules: map(allowedIpRanges, ip => { value: ip, action: 'Allow' })
}

@export()
@description('A key vault\'s networkAcls, the same rule as storageAcls.')
func vaultAcls(publicNetworkAccess string, allowedIpRanges array) object => {
  defaultAction: publicNetworkAccess == 'Disabled' ? 'Deny' : 'Allow'
  bypass: 'AzureServices'
  ipRules: map(allowedIpRanges, ip => { value: ip })
}
