// The operators' Workbook in the Application Insights component ferry's metrics go to:
// RPO per chain against its objective, chains over it now, copies by outcome per day, copy
// duration, backlog, restore drills. The Notebook/1.0 JSON lives in infra/workbook/ (so it
// can be edited in the portal's Advanced Editor and pasted back); tests/infra checks every
// metric and dimension it names against `ferry metrics`.

param location string
param appInsightsId string
param displayName string = 'restore-point-ferry'
param tags object = {}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // Workbook names are GUIDs; stable per resource group so a redeploy updates it.
  name: guid(resourceGroup().id, 'restore-point-ferry-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: loadTextContent('../workbook/ferry.workbook.json')
  }
}

output workbookId string = workbook.id
