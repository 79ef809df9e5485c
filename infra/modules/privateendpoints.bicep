@description('Azure region for the resources.')
param location string

@description('Tags for every resource.')
param tags object

@description('The subnet the endpoints take their addresses in.')
param subnetId string

@description('One entry per endpoint: { name, resourceId, groupId (blob, table, queue or vault), zoneId (its private DNS zone) }.')
param endpoints array

resource endpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = [for e in endpoints: {
  name: e.name
  location: location
  tags: tags
  properties: {
    subnet: { id: subnetId }
    privateLinkServiceConnections: [
      { name: e.name, properties: { privateLinkServiceId: e.resourceId, groupIds: [ e.groupId ] } }
    ]
  }
}]

// The endpoint's address is written into its zone, so the service's public name resolves to it inside the network.
resource dns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (e, i) in endpoints: {
  parent: endpoint[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [ { name: e.groupId, properties: { privateDnsZoneId: e.zoneId } } ]
  }
}]

output names array = [for (e, i) in endpoints: endpoint[i].name]
