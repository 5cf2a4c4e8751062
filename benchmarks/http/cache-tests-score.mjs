// Scores a results file of the public HTTP caching test suite (github.com/http-tests/cache-tests) by the suite's own
// rules (test-engine/lib/results.mjs: determineTestResult, dependencies honoured): a required test that fails is a
// conformance failure; optimal and check tests are informative.
// Usage: node cache-tests-score.mjs SUITE_DIR RESULTS_JSON [--json]
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const [suiteDir, resultsFile, flag] = process.argv.slice(2)
if (!suiteDir || !resultsFile) {
  console.error('usage: node cache-tests-score.mjs SUITE_DIR RESULTS_JSON [--json]')
  process.exit(2)
}

const suites = (await import(pathToFileURL(resolve(suiteDir, 'tests/index.mjs')))).default
const { determineTestResult, resultTypes } = await import(pathToFileURL(resolve(suiteDir, 'test-engine/lib/results.mjs')))
const results = JSON.parse(readFileSync(resultsFile, 'utf8'))

// The outcome names, by the symbol determineTestResult returns.
const outcome = new Map([
  [resultTypes.pass, 'passed'], [resultTypes.yes, 'passed'],
  [resultTypes.fail, 'failed'], [resultTypes.optional_fail, 'failed'], [resultTypes.no, 'failed'],
  [resultTypes.dependency_fail, 'dependency'], [resultTypes.setup_fail, 'setup'],
  [resultTypes.harness_fail, 'harness'], [resultTypes.retry, 'retry'], [resultTypes.untested, 'untested']
])
const kinds = ['required', 'optimal', 'check']
const counts = Object.fromEntries(kinds.map(k => [k, {}]))
const listed = []
for (const suite of suites) {
  for (const test of suite.tests) {
    if (test.browser_only === true) continue // the CLI runs as a proxy client: browser-only tests are not run
    const kind = test.kind ?? 'required'
    const name = outcome.get(determineTestResult(suites, test.id, results))
    counts[kind][name] = (counts[kind][name] ?? 0) + 1
    if (name !== 'passed') {
      const detail = Array.isArray(results[test.id]) ? results[test.id].slice(1).join(' ') : ''
      listed.push({ kind, outcome: name, id: test.id, suite: suite.name, name: test.name.replace(/\s+/g, ' '), anchors: (test.spec_anchors ?? suite.spec_anchors ?? []).join(' '), detail })
    }
  }
}

if (flag === '--json') {
  console.log(JSON.stringify({ counts, notPassed: listed }, null, 2))
  process.exit(0)
}

const describe = kind => {
  const c = counts[kind]
  const others = Object.entries(c).filter(([k]) => k !== 'passed' && k !== 'failed').map(([k, v]) => `${v} ${k}`)
  return `${kind}: ${c.passed ?? 0} passed, ${c.failed ?? 0} failed` + (others.length ? ` (not run: ${others.join(', ')})` : '')
}
console.log(kinds.map(describe).join('; '))
for (const kind of kinds) {
  const rows = listed.filter(r => r.kind === kind && (kind === 'required' || process.env.ALL === '1'))
  if (rows.length === 0) continue
  console.log(`\n${kind} not passed:`)
  for (const r of rows) {
    console.log(`  ${r.outcome.padEnd(10)} ${r.id}  [${r.anchors}]  ${r.name}${r.detail ? `  -- ${r.detail}` : ''}`)
  }
}
