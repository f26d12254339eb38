#!/usr/bin/env node
// The per-platform npm packages under npm/ (one per target in package.json's napi.targets) and
// the main package's optionalDependencies on them. `napi create-npm-dirs` writes the napi-rs
// layout (os/cpu/libc, version); this script adds pynode's second binary, the loader addon, to
// each, since a platform package must carry both `.node` files.
//
//   node scripts/npm-packages.mjs                  rewrite npm/*/ and optionalDependencies
//   node scripts/npm-packages.mjs --check          fail if they are stale (npm test runs this)
//   node scripts/npm-packages.mjs --artifacts DIR [--npm-dir OUT]
//                                                  copy built binaries found under DIR (any depth)
//                                                  into the matching npm/<platform>/ dirs (or OUT/<platform>/)
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const BINARIES = ['pynode', 'pynode-loader']
const pkgPath = join(root, 'package.json')
const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'))
const napi = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'napi.cmd' : 'napi')

/** { 'linux-x64-gnu': { 'package.json': text, 'README.md': text }, … } as they should be. */
function expected() {
  const tmp = mkdtempSync(join(tmpdir(), 'pynode-npm-'))
  try {
    writeFileSync(join(tmp, 'package.json'), JSON.stringify(pkg))
    execFileSync(napi, ['create-npm-dirs', '--cwd', tmp], { stdio: 'pipe' })
    const out = {}
    for (const platform of readdirSync(join(tmp, 'npm')).sort()) {
      const dir = join(tmp, 'npm', platform)
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
      manifest.files = BINARIES.map((name) => `${name}.${platform}.node`)
      manifest.description = `pynode's native binaries for ${platform} (installed by pynode as an optional dependency)`
      if (pkg.repository) manifest.repository = pkg.repository
      out[platform] = {
        'package.json': `${JSON.stringify(manifest, null, 2)}\n`,
        'README.md': `# ${manifest.name}\n\nThe \`${platform}\` binaries of [pynode](https://www.npmjs.com/package/pynode): ${manifest.files.map((f) => `\`${f}\``).join(' and ')}.\nInstall \`pynode\`, not this package: npm picks the right platform package.\n`,
      }
    }
    return out
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

function optionalDependencies(platforms) {
  return Object.fromEntries(platforms.map((p) => [`${pkg.name}-${p}`, pkg.version]))
}

/** Every path under `dir`, recursively. */
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })
}

const args = process.argv.slice(2)
const want = expected()
const platforms = Object.keys(want)

if (args[0] === '--artifacts') {
  const from = args[1] ?? join(root, 'native')
  const npmDir = args.includes('--npm-dir') ? args[args.indexOf('--npm-dir') + 1] : join(root, 'npm')
  let copied = 0
  for (const file of walk(from)) {
    const name = file.split(/[\\/]/).pop()
    for (const platform of platforms) {
      if (BINARIES.some((b) => name === `${b}.${platform}.node`)) {
        copyFileSync(file, join(npmDir, platform, name))
        console.error(`${file} -> ${join(npmDir, platform, name)}`)
        copied++
      }
    }
  }
  if (copied === 0) throw new Error(`no ${BINARIES.join('/')}.<platform>.node files under ${from}`)
} else if (args[0] === '--check') {
  const stale = []
  for (const [platform, files] of Object.entries(want)) {
    for (const [file, text] of Object.entries(files)) {
      const path = join(root, 'npm', platform, file)
      if (!existsSync(path) || readFileSync(path, 'utf8') !== text) stale.push(`npm/${platform}/${file}`)
    }
  }
  if (JSON.stringify(pkg.optionalDependencies) !== JSON.stringify(optionalDependencies(platforms)))
    stale.push('package.json optionalDependencies')
  if (stale.length) {
    console.error(`stale platform packages (run \`node scripts/npm-packages.mjs\`): ${stale.join(', ')}`)
    process.exit(1)
  }
  console.error(`npm/: ${platforms.length} platform packages match package.json (${pkg.version})`)
} else {
  for (const [platform, files] of Object.entries(want)) {
    mkdirSync(join(root, 'npm', platform), { recursive: true })
    for (const [file, text] of Object.entries(files)) writeFileSync(join(root, 'npm', platform, file), text)
  }
  pkg.optionalDependencies = optionalDependencies(platforms)
  writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`)
  console.error(`wrote npm/{${platforms.join(',')}} and optionalDependencies`)
}
