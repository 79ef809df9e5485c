@description('Azure region for the resources.')
param location string

@description('Virtual network name.')
param name string

@description('Tags for every resource.')
param tags object

@description('Address space of the network (at least a /23): its first /24 is the app\'s integration subnet, its second the private endpoints\'.')
param addressPrefix string

// The function app's outbound traffic enters the network through the first subnet (Flex Consumption integration is
// delegated to Microsoft.App/environments, sized /24 as Microsoft's Flex samples are); the storage accounts and the vault
// are reached through private endpoints in the second, and their names resolve to those endpoints through the zones below.
resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [ addressPrefix ] }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 0)
          delegations: [ { name: 'flex-consumption', properties: { serviceName: 'Microsoft.App/environments' } } ]
        }
      }
      {
        name: 'endpoints'
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 1)
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

var zones = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  vault: 'privatelink${replace(environment().suffixes.keyvaultDns, 'vault.', 'vaultcore.')}'
}

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' = [for z in items(zones): {
  name: z.value
  location: 'global'
  tags: tags
}]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (z, i) in items(zones): {
  parent: zone[i]
  name: '${name}-${z.key}'
  location: 'global'
  tags: tags
  properties: {
    virtualNetwork: { id: vnet.id }
    registrationEnabled: false
  }
}]

output appSubnetId string = vnet.properties.subnets[0].id
output endpointSubnetId string = vnet.properties.subnets[1].id
// Ids by key (blob, table, queue, vault); each zone above is named by its value.
output zoneIds object = toObject(items(zones), z => z.key, z => resourceId('Microsoft.Network/privateDnsZones', z.value))
