// A target restore point collection, for teams that create DR targets as code instead of
// letting the ferry create them (policy createTargetCollections: false). Deploy it into
// the target resource group; the collection must be in the target region and point at the
// source collection, which is how the platform links a copy chain.
targetScope = 'resourceGroup'

@description('Target collection name; the ferry looks for the policy collectionName pattern ({resourceGroup}-{source}-{region} by default).')
param name string

@description('Target region, e.g. westus2.')
param location string = resourceGroup().location

@description('ARM id of the source restore point collection (in another region).')
param sourceCollectionId string

param tags object = {}

resource collection 'Microsoft.Compute/restorePointCollections@2025-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'restore-point-ferry:source': sourceCollectionId
  })
  properties: {
    source: {
      id: sourceCollectionId
    }
  }
}

output collectionId string = collection.id
output collectionName string = collection.name
