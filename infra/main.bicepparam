// An example deployment: two stores on one EU input. Secrets come from the environment at deploy time
// (az deployment group create ... with MPARTICLE_ACME_EU_KEY / MPARTICLE_ACME_EU_SECRET set); never commit them.
using 'main.bicep'

param workload = 'acme'
param mparticleEnvironment = 'production'
param mparticleInputs = [
  { name: 'acme-eu', pod: 'EU1' }
]
param mparticleCredentials = {
  inputs: [
    { name: 'acme-eu', apiKey: readEnvironmentVariable('MPARTICLE_ACME_EU_KEY', ''), apiSecret: readEnvironmentVariable('MPARTICLE_ACME_EU_SECRET', '') }
  ]
}
param stores = [
  { key: 'acme-de', input: 'acme-eu', defaultCountry: 'DE' }
  { key: 'acme-uk', input: 'acme-eu', defaultCountry: 'GB' }
]
param defaultInput = 'acme-eu'
param commercetools = {
  projectKey: 'acme-commerce-prod'
  apiUrl: 'https://api.europe-west1.gcp.commercetools.com'
  authUrl: 'https://auth.europe-west1.gcp.commercetools.com'
  clientId: 'replace-with-the-api-client-id'
}
param alertEmail = 'commerce-ops@example.com'
// Private by default (publicNetworkAccess = 'Disabled': a network, private endpoints for storage and the vault). To run
// ctmp ... --azure from an operator's machine outside it, list its address:
// param allowedIpRanges = [ '203.0.113.7' ]
