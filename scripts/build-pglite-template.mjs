// Makes the embedded database's template (packages/store/dist/pglite-template): a data directory
// fresh from PGlite's initdb, which a new HODEI_DATA_DIR is then a copy of (see
// packages/store/src/pglite-template.ts). Kept while the PGlite that made it is the one installed.
import { BUILT_PGLITE_TEMPLATE, buildPgliteTemplate } from "../packages/store/dist/src/pglite-template.js";

const started = Date.now();
if (await buildPgliteTemplate(BUILT_PGLITE_TEMPLATE))
  console.log(`made the embedded database template in ${((Date.now() - started) / 1000).toFixed(1)} s`);
