"""JavaScript / TypeScript: relative specifiers with extension and index resolution."""

from stages.topo_sort.deps import RepoFile, find_dependencies


def lang(path: str) -> str:
    return "TypeScript" if path.endswith((".ts", ".tsx")) else "JavaScript"


def graph(sources: dict[str, str]):
    return find_dependencies([RepoFile(p, lang(p), t) for p, t in sources.items()])


def test_es_modules_commonjs_and_typescript():
    g = graph({
        "src/index.ts":
            "import React from 'react';\nimport { a } from './a';\nimport type { T } from './types';\n"
            "export * from './components';\nimport './side-effect.js';\nimport b = require('../lib/b');\n"
            "const lazy = () => import('./lazy');\n",
        "src/a.ts": "export const a = 1;\n",
        "src/types.d.ts": "export type T = number;\n",
        "src/components/index.tsx": "export { Button } from './Button';\nexport const X = () => <div/>;\n",
        "src/components/Button.tsx": "export const Button = () => <button/>;\n",
        "src/side-effect.ts": "console.log('x');\n",  # imported as ./side-effect.js (TS ESM style)
        "src/lazy.js": "module.exports = {};\n",
        "lib/b.cjs": "const fs = require('fs');\nconst c = require('./c.js');\nrequire(name);\nfoo('./a');\n",
        "lib/c.js": "import d from '../src/missing';\n",
    })
    assert g.edges["src/index.ts"] == {
        "src/a.ts", "src/types.d.ts", "src/components/index.tsx", "src/side-effect.ts", "lib/b.cjs", "src/lazy.js",
    }
    assert g.edges["src/components/index.tsx"] == {"src/components/Button.tsx"}
    assert g.edges["lib/b.cjs"] == {"lib/c.js"}  # ``fs`` is a package, foo() is no import
    assert g.edges["lib/c.js"] == set()
    assert g.parse_failures == []
    assert (g.imports_total, g.imports_resolved) == (11, 8)


def test_syntax_error_keeps_imports():
    g = graph({"a.js": "import b from './b';\nfunction ( {\n", "b.js": ""})
    assert g.edges["a.js"] == {"b.js"}
    assert g.parse_failures == ["a.js"]
