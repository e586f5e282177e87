// The resource group where restore drills create their disks in one target region: created
// here, or left as it is when the deployment only takes its name (create: false). Nothing
// but drill disks (tagged ferry-drill=<drill id>) belongs in it: the ferry deletes every
// disk there that an earlier drill left behind.
targetScope = 'subscription'

@description('Resource group name; must match the policy drill.resourceGroup (default ferry-drill-{region}).')
param name string

@description('Target region the drills restore in.')
param location string

@description('Create the resource group (false: it exists already).')
param create bool = true

param tags object = {}

resource drillRg 'Microsoft.Resources/resourceGroups@2024-03-01' = if (create) {
  name: name
  location: location
  tags: union(tags, {
    purpose: 'restore-point-ferry restore drills'
  })
}

output resourceGroupName string = name
