"""Paper §2.2, Algorithm 1: order a repository's files so that dependencies come first.

Edges run B → A when A depends on B. The graph is split into weakly connected components; in each,
the unplaced file with the minimal current in-degree is emitted and its successors' in-degrees are
decremented. Unlike Kahn's algorithm this never stalls: in a cycle the file with the fewest
remaining dependencies goes first. Ties are broken by a seeded random key per file, a hash of the
seed, the path and the file's content (`tie_keys`), so the order never depends on input order,
worker scheduling or the repository's name: two byte-identical repositories get identical samples
(which exact dedup then catches), while different repositories do not all order `a.py` before
`b.py`.

A heap with lazy deletion makes it O(E log V) instead of the paper's O(V²) argmin scan. One
refinement keeps dependencies first wherever no cycle forbids it (see min_in_degree_order).
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Mapping
from dataclasses import dataclass


def tie_break_key(seed: int, key: str) -> int:
    """A stable pseudo-random 64-bit number for `key` under `seed` (same on every machine)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest(), "big")


def weakly_connected_components(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Components as lists of nodes, each sorted; components ordered by their smallest node."""
    parent = {n: n for n in nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, deps in edges.items():
        for b in deps:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for n in sorted(nodes):
        groups.setdefault(find(n), []).append(n)
    return sorted(groups.values(), key=lambda g: g[0])


def content_key(content: str) -> str:
    """What a file adds to its tie-break key besides its path: a digest of its content."""
    return hashlib.blake2b(content.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def min_in_degree_order(component: list[str], depends_on: dict[str, set[str]], seed: int = 0,
                        tie_keys: Mapping[str, str] | None = None) -> list[str]:
    """Algorithm 1 on one component. `depends_on[a]` = files a depends on (edges b → a).

    `tie_keys[path]` (e.g. `content_key(content)`) joins the path in each file's tie-break key.

    One refinement: the argmin only considers files whose strongly connected component has no
    unplaced dependency outside itself. On acyclic graphs this is exactly the paper's rule (those are
    the files of in-degree 0); inside a cycle the paper's min-in-degree choice still decides; but a
    cycle elsewhere in the component can no longer pull a file ahead of its own dependencies.
    """
    members = set(component)
    successors: dict[str, list[str]] = {n: [] for n in component}
    in_degree = {n: 0 for n in component}
    local = {a: {b for b in depends_on.get(a, ()) if b in members and b != a} for a in component}
    for a in component:
        for b in local[a]:
            successors[b].append(a)
            in_degree[a] += 1
    scc = strongly_connected_components(component, local)
    scc_members: dict[int, list[str]] = {}
    for n in component:
        scc_members.setdefault(scc[n], []).append(n)
    # Edges entering each SCC from outside it, still unplaced.
    scc_pending = {s: 0 for s in scc_members}
    for a in component:
        scc_pending[scc[a]] += sum(1 for b in local[a] if scc[b] != scc[a])
    tie_keys = tie_keys or {}
    tie = {n: tie_break_key(seed, f"{n}\0{tie_keys.get(n, '')}") for n in component}
    heap = [(in_degree[n], tie[n], n) for n in component if scc_pending[scc[n]] == 0]
    heapq.heapify(heap)
    placed: set[str] = set()
    order: list[str] = []
    while heap:
        degree, _, node = heapq.heappop(heap)
        if node in placed or degree != in_degree[node]:
            continue  # stale entry: the node was placed or its in-degree dropped since
        placed.add(node)
        order.append(node)
        for succ in successors[node]:
            in_degree[succ] -= 1
            if scc[succ] == scc[node]:
                if succ not in placed:
                    heapq.heappush(heap, (in_degree[succ], tie[succ], succ))
                continue
            scc_pending[scc[succ]] -= 1
            if scc_pending[scc[succ]] == 0:  # the successor's component is now free to start
                for m in scc_members[scc[succ]]:
                    heapq.heappush(heap, (in_degree[m], tie[m], m))
    return order


def strongly_connected_components(nodes: list[str], depends_on: dict[str, set[str]]) -> dict[str, int]:
    """SCC id per node (Tarjan's algorithm, iterative so deep import chains cannot overflow)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    comp: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(depends_on.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(depends_on.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp[member] = index[node]
                    if member == node:
                        break
    return comp


def count_cycles(nodes: list[str], depends_on: dict[str, set[str]]) -> int:
    """Strongly connected components with more than one file."""
    sizes: dict[int, int] = {}
    for c in strongly_connected_components(nodes, depends_on).values():
        sizes[c] = sizes.get(c, 0) + 1
    return sum(1 for n in sizes.values() if n > 1)


@dataclass
class RepoOrder:
    components: list[list[str]]  # each in training order
    edges: int
    cycles: int


def order_repository(nodes: list[str], depends_on: dict[str, set[str]], seed: int = 0,
                     tie_keys: Mapping[str, str] | None = None) -> RepoOrder:
    """Components of the repository's dependency graph, each ordered by Algorithm 1 (ties:
    `min_in_degree_order`)."""
    nodeset = set(nodes)
    depends_on = {a: {b for b in depends_on.get(a, ()) if b in nodeset and b != a} for a in nodes}
    comps = weakly_connected_components(nodes, depends_on)
    ordered = [min_in_degree_order(c, depends_on, seed, tie_keys) for c in comps]
    n_edges = sum(len(d) for d in depends_on.values())
    return RepoOrder(ordered, n_edges, count_cycles(sorted(nodes), depends_on))
