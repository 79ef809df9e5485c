// Runs mParticle's own validator (npm @mparticle/data-planning-node, local mode: no network) over Events API
// batches, for the parity test.
// Usage: node dpn-validate.cjs PLAN.json BATCH.json... → prints {"<batch file>": [validation results]} as JSON.
'use strict';
const fs = require('fs');
const { DataPlanService } = require('@mparticle/data-planning-node');

async function main() {
  const [planPath, ...batchPaths] = process.argv.slice(2);
  const plan = JSON.parse(fs.readFileSync(planPath, 'utf8'));
  const version = plan.version_document ? plan : { version_document: plan };
  const service = new DataPlanService();
  const quiet = console.warn;
  console.warn = () => {}; // duplicate match keys are warned about; the parity test compares results only
  const results = {};
  for (const path of batchPaths) {
    const dto = await service.validateBatch(JSON.parse(fs.readFileSync(path, 'utf8')), version);
    results[path] = dto.results;
  }
  console.warn = quiet;
  process.stdout.write(JSON.stringify(results));
}

main().catch(error => { console.error(error); process.exit(1); });
