#!/usr/bin/env node
// Checks .github/workflows/*.yml, which cannot run here: each parses as YAML (the `yaml`
// package, strict about duplicate keys and bad indentation), has the shape GitHub Actions
// needs (`on`, jobs with `runs-on` and steps that `run` or `uses`), every `needs` names a job,
// every `node scripts/<file>` and `npm run <script>` it calls exists, and a build matrix lists
// exactly package.json's napi.targets. Part of `npm run check:release` (so of `npm test`).
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseDocument } from 'yaml'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dir = join(root, '.github', 'workflows')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const problems = []

for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
  const where = `.github/workflows/${file}`
  const doc = parseDocument(readFileSync(join(dir, file), 'utf8'), { uniqueKeys: true, prettyErrors: true })
  for (const e of [...doc.errors, ...doc.warnings]) problems.push(`${where}: ${e.message}`)
  if (doc.errors.length) continue
  const wf = doc.toJS()
  if (!wf.on) problems.push(`${where}: no \`on\` trigger`)
  const jobs = wf.jobs ?? {}
  if (!Object.keys(jobs).length) problems.push(`${where}: no jobs`)
  for (const [id, job] of Object.entries(jobs)) {
    const at = `${where}: job ${id}`
    if (!job['runs-on']) problems.push(`${at}: no runs-on`)
    for (const need of [job.needs ?? []].flat()) if (!jobs[need]) problems.push(`${at}: needs unknown job ${need}`)
    if (!Array.isArray(job.steps) || !job.steps.length) problems.push(`${at}: no steps`)
    for (const [i, step] of (job.steps ?? []).entries()) {
      if (!step.run === !step.uses) problems.push(`${at}: step ${i + 1} needs exactly one of run/uses`)
      for (const [, script] of String(step.run ?? '').matchAll(/node (scripts\/[\w.-]+)/g)) {
        if (!existsSync(join(root, script))) problems.push(`${at}: runs ${script}, which does not exist`)
      }
      for (const [, script] of String(step.run ?? '').matchAll(/npm run ([\w:-]+)/g)) {
        if (!pkg.scripts[script]) problems.push(`${at}: runs \`npm run ${script}\`, which package.json does not define`)
      }
    }
    const targets = job.strategy?.matrix?.settings?.map((s) => s.target)
    if (id === 'build') {
      const want = [...pkg.napi.targets].sort().join(', ')
      if ([...(targets ?? [])].sort().join(', ') !== want)
        problems.push(`${at}: matrix targets are not package.json's napi.targets (${want})`)
    }
  }
}

if (problems.length) {
  console.error(`workflow check failed:\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
console.error('workflows: parsed, shape checked, scripts and targets match package.json')
