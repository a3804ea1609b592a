"""Small real repositories in Java, TypeScript, JavaScript and C#, written in code, for the cross-file
benchmark tests; and an independent check (regular expressions over the sources, no tree-sitter)
that a line uses a name declared in another file of its repository."""

from __future__ import annotations

import re
from pathlib import Path

JAVA = {
    "src/main/java/com/acme/model/User.java": """package com.acme.model;

public class User {
    private final String name;
    private final Role role;

    public User(String name, Role role) {
        this.name = name;
        this.role = role;
    }

    public String getName() {
        return name;
    }

    public Role getRole() {
        return role;
    }
}
""",
    "src/main/java/com/acme/model/Role.java": """package com.acme.model;

public enum Role {
    ADMIN, EDITOR, VIEWER;

    public boolean canWrite() {
        return this != VIEWER;
    }
}
""",
    "src/main/java/com/acme/util/Strings.java": """package com.acme.util;

public final class Strings {
    public static final int MAX_LENGTH = 64;

    private Strings() {
    }

    public static String capitalize(String s) {
        return s.isEmpty() ? s : Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }

    public static String clip(String s) {
        return s.length() > MAX_LENGTH ? s.substring(0, MAX_LENGTH) : s;
    }
}
""",
    "src/main/java/com/acme/app/Helper.java": """package com.acme.app;

class Helper {
    static String greet(String who) {
        return "hello " + who;
    }
}
""",
    "src/main/java/com/acme/app/App.java": """package com.acme.app;

import com.acme.model.User;
import com.acme.model.Role;
import static com.acme.util.Strings.capitalize;
import com.acme.util.Strings;

public class App {
    public static void main(String[] args) {
        int count = args.length;
        User admin = new User("root", Role.ADMIN);
        String shown = capitalize(admin.getName());
        String clipped = Strings.clip(shown);
        System.out.println(Helper.greet(clipped));
        if (admin.getRole().canWrite()) {
            System.out.println("writer: " + count);
        }
        Role other = Role.VIEWER;
        System.out.println(other);
    }
}
""",
}

TYPESCRIPT = {
    "src/models/user.ts": """export interface User {
  name: string;
  age: number;
}

export const DEFAULT_NAME = "anonymous";

export function makeUser(name: string, age: number): User {
  return { name: name || DEFAULT_NAME, age };
}

export class UserStore {
  private users: User[] = [];

  add(user: User): void {
    this.users.push(user);
  }

  count(): number {
    return this.users.length;
  }
}
""",
    "src/util.ts": """export function helper(value: string): string {
  return value.trim();
}

export default class Logger {
  log(message: string): void {
    console.log(message);
  }
}
""",
    "src/index.ts": """export * from "./models/user";
export { helper as assist } from "./util";
""",
    "src/app.ts": """import { makeUser, UserStore, User } from "./models/user";
import Logger from "./util";
import * as api from "./index";

const logger = new Logger();
const store = new UserStore();
const first: User = makeUser("ada", 36);
store.add(first);
store.add(api.makeUser("alan", 41));
logger.log(api.assist("  done  "));
const total = store.count();
logger.log(`users: ${total}`);
""",
}

JAVASCRIPT = {
    "lib/math.js": """export function add(a, b) {
  return a + b;
}

export const ZERO = 0;

export default function mul(a, b) {
  return a * b;
}
""",
    "lib/main.js": """import mul, { add, ZERO } from "./math.js";

const start = ZERO;
const sum = add(start, 2);
const product = mul(sum, 3);
console.log(product);
""",
}

CSHARP = {
    "Models/User.cs": """namespace Acme.Models
{
    public enum Role { Admin, Viewer }

    public class User
    {
        public string Name { get; }
        public Role Role { get; }

        public User(string name, Role role)
        {
            Name = name;
            Role = role;
        }
    }
}
""",
    "Util/MathUtil.cs": """namespace Acme.Util;

public static class MathUtil
{
    public static int Clamp(int value, int lo, int hi)
    {
        return value < lo ? lo : value > hi ? hi : value;
    }
}
""",
    "Services/UserService.cs": """using System.Collections.Generic;
using Acme.Models;

namespace Acme.Services
{
    public class UserService
    {
        private readonly List<User> users = new List<User>();

        public User Add(string name)
        {
            var user = new User(name, Role.Viewer);
            users.Add(user);
            return user;
        }
    }
}
""",
    "Program.cs": """using System;
using Acme.Models;
using Acme.Services;
using static Acme.Util.MathUtil;

namespace Acme.App
{
    public static class Program
    {
        public static void Main()
        {
            var service = new UserService();
            User ada = service.Add("ada");
            int level = Clamp(7, 0, 5);
            Console.WriteLine(ada.Name + level);
            Role role = ada.Role;
            Console.WriteLine(role);
        }
    }
}
""",
}

REPOS = {"acme-java": JAVA, "acme-ts": TYPESCRIPT, "acme-js": JAVASCRIPT, "acme-cs": CSHARP}


def write_repos(root: Path, repos: dict[str, dict[str, str]] = REPOS) -> Path:
    for name, files in repos.items():
        for path, text in files.items():
            target = root / name / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    return root


# ---------------------------------------------------------------- the independent check (regexes)
_DECLARATIONS = {
    "java": [r"\b(?:class|interface|enum|record)\s+([A-Za-z_]\w*)",
             r"\bstatic\s+(?:final\s+)?[\w<>\[\]]+\s+([A-Za-z_]\w*)\s*[(=;]"],
    "csharp": [r"\b(?:class|struct|interface|enum|record)\s+([A-Za-z_]\w*)",
               r"\bpublic\s+static\s+[\w<>\[\]]+\s+([A-Za-z_]\w*)\s*\("],
    "typescript": [r"\bexport\s+(?:default\s+)?(?:abstract\s+)?(?:function|class|const|let|var|interface|type|enum)"
                   r"\s+([A-Za-z_$][\w$]*)"],
}
_DECLARATIONS["javascript"] = _DECLARATIONS["typescript"]


def declared_names(text: str, language: str) -> set[str]:
    names = set()
    for pattern in _DECLARATIONS[language]:
        names.update(re.findall(pattern, text))
    if language in ("typescript", "javascript"):
        if re.search(r"\bexport\s+default\b", text):
            names.add("default")
        for clause in re.findall(r"\bexport\s*\{([^}]*)\}", text):  # export { a, b as c } [from ...]
            names.update(part.split(" as ")[-1].strip() for part in clause.split(",") if part.strip())
    return names


def code_words(line: str) -> set[str]:
    line = re.sub(r'"([^"\\]|\\.)*"|`([^`\\]|\\.)*`', '""', line)  # not inside string literals
    return set(re.findall(r"[A-Za-z_$][\w$]*", line))


def uses_name_from_another_file(task: dict, files: dict[str, str], language: str) -> set[str]:
    """The words of the ground-truth line declared in another file of the repository and not in the
    task's own file (TypeScript/JavaScript: a default export counts under the name it is imported as)."""
    own = declared_names(files[task["metadata"]["file"]], language)
    elsewhere = set()
    default_aliases = set()
    source = files[task["metadata"]["file"]]
    for path, text in files.items():
        if path != task["metadata"]["file"]:
            elsewhere |= declared_names(text, language)
    if language in ("typescript", "javascript") and "default" in elsewhere:
        default_aliases = set(re.findall(r"^import\s+([A-Za-z_$][\w$]*)\s*(?:,|\s+from)", source, re.M))
    words = code_words(task["groundtruth"])
    return (words & (elsewhere - own)) | (words & default_aliases)
