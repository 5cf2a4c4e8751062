// Compares two results files of the cache-tests suite test by test, by the suite's own outcome of each test.
// Usage: node cache-tests-compare.mjs SUITE_DIR BEFORE_JSON AFTER_JSON   (exit code 1 when a test passed before and not after)
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const [suiteDir, beforeFile, afterFile] = process.argv.slice(2)
const suites = (await import(pathToFileURL(resolve(suiteDir, 'tests/index.mjs')))).default
const { determineTestResult, resultTypes } = await import(pathToFileURL(resolve(suiteDir, 'test-engine/lib/results.mjs')))
const before = JSON.parse(readFileSync(beforeFile, 'utf8'))
const after = JSON.parse(readFileSync(afterFile, 'utf8'))
const passed = r => r === resultTypes.pass || r === resultTypes.yes
let lost = 0
for (const suite of suites) {
  for (const test of suite.tests) {
    if (test.browser_only === true) continue
    const b = determineTestResult(suites, test.id, before)
    const a = determineTestResult(suites, test.id, after)
    if (passed(b) !== passed(a)) {
      if (passed(b)) lost++
      console.log(`${passed(a) ? 'gained' : 'LOST  '} ${(test.kind ?? 'required').padEnd(8)} ${test.id}  ${b[2]} -> ${a[2]}`)
    }
  }
}
process.exit(lost > 0 ? 1 : 0)
