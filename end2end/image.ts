// The release image without a Docker engine: the Dockerfile's runtime stage is read
// here — the files it copies from the builder, its WORKDIR, ENV and CMD — so that the
// end-to-end tests run the release build laid out and configured exactly as the image
// runs it. Only the image's directory is moved (to `target/image`), nothing else.
import * as fs from "node:fs";
import * as path from "node:path";

/** The repository's root (the builder stage's `/src`). */
export const ROOT = path.resolve(__dirname, "..");

/** Where the image's WORKDIR is laid out for the tests. */
export const IMAGE_DIR = path.join(ROOT, "target", "image");

/** The runtime stage as the Dockerfile states it. */
export interface RuntimeStage {
  /** The image's working directory (`/app`). */
  workdir: string;
  /** `COPY --from=builder SOURCE DEST`: SOURCE under the builder's `/src`, DEST in the image. */
  copies: { source: string; dest: string }[];
  /** Every `ENV` of the runtime stage, in order. */
  env: Record<string, string>;
  /** The command the image runs (`CMD [...]`). */
  command: string[];
}

/** Reads the Dockerfile's last stage (the one the image runs). */
export function runtimeStage(dockerfile = path.join(ROOT, "Dockerfile")): RuntimeStage {
  const instructions = fs
    .readFileSync(dockerfile, "utf8")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"));
  const last = instructions.map((line) => /^FROM\s/i.test(line)).lastIndexOf(true);
  const stage: RuntimeStage = { workdir: "/", copies: [], env: {}, command: [] };
  let builderRoot = "/";
  for (const line of instructions.slice(0, last)) {
    const workdir = line.match(/^WORKDIR\s+(\S+)/i);
    if (workdir) builderRoot = workdir[1];
  }
  for (const line of instructions.slice(last + 1)) {
    const [keyword, ...rest] = line.split(/\s+/);
    const args = rest.join(" ");
    switch (keyword.toUpperCase()) {
      case "WORKDIR":
        stage.workdir = args;
        break;
      case "COPY": {
        const words = rest.filter((word) => !word.startsWith("--"));
        if (!rest.some((word) => word.startsWith("--from="))) {
          throw new Error(`the runtime stage copies from the build context: ${line}`);
        }
        const [source, dest] = words;
        stage.copies.push({ source: path.posix.relative(builderRoot, source), dest });
        break;
      }
      case "ENV":
        for (const pair of args.match(/[A-Za-z_][A-Za-z0-9_]*=("[^"]*"|\S*)/g) ?? []) {
          const at = pair.indexOf("=");
          stage.env[pair.slice(0, at)] = pair.slice(at + 1).replace(/^"(.*)"$/, "$1");
        }
        break;
      case "CMD":
        stage.command = JSON.parse(args);
        break;
    }
  }
  return stage;
}

/** An image path (`/app/...`) as a path under `imageDir`. */
export function inImage(stage: RuntimeStage, imagePath: string, imageDir = IMAGE_DIR): string {
  const relative = path.posix.relative(stage.workdir, imagePath);
  if (relative.startsWith("..")) throw new Error(`${imagePath} is outside the image's ${stage.workdir}`);
  return path.join(imageDir, relative);
}

/** The runtime stage's environment with its image paths moved under `imageDir`. */
export function imageEnvironment(stage: RuntimeStage, imageDir = IMAGE_DIR): Record<string, string> {
  const workdir = stage.workdir.replace(/\/$/, "");
  return Object.fromEntries(
    Object.entries(stage.env).map(([name, value]) => [
      name,
      value === workdir || value.startsWith(`${workdir}/`) ? inImage(stage, value, imageDir) : value,
    ]),
  );
}

/** Copies what the runtime stage copies from the builder (the repository, after
 * `bash .ci/build`) into `imageDir`. Files are replaced by renaming a fresh copy over
 * them, so a server still running the old binary is not disturbed. */
export function assembleImage(stage: RuntimeStage, imageDir = IMAGE_DIR): void {
  for (const { source, dest } of stage.copies) {
    const from = path.join(ROOT, source);
    const to = inImage(stage, dest, imageDir);
    if (!fs.existsSync(from)) throw new Error(`${source} is missing: run \`bash .ci/build\` first`);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    const fresh = `${to}.new`;
    fs.rmSync(fresh, { recursive: true, force: true });
    fs.cpSync(from, fresh, { recursive: true, preserveTimestamps: true });
    if (fs.statSync(from).isDirectory()) fs.rmSync(to, { recursive: true, force: true });
    fs.renameSync(fresh, to);
  }
}
