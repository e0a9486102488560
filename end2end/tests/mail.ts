// The mails the deployment sent, as the run's SMTP server (aiosmtpd, started by
// playwright.config.ts) stored them in its Maildir.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { expect } from "@playwright/test";
import { simpleParser } from "mailparser";

export interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Every mail received so far for `to`, oldest first. */
async function mailsTo(to: string): Promise<Mail[]> {
  const dir = join(process.env.E2E_MAILDIR ?? "", "new");
  let files: string[] = [];
  try {
    files = readdirSync(dir).map((name) => join(dir, name));
  } catch {
    return [];
  }
  files.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  const mails: Mail[] = [];
  for (const file of files) {
    const raw = readFileSync(file);
    // Only the mails that name the address are parsed (a run stores hundreds).
    if (!raw.toString("latin1").toLowerCase().includes(to.toLowerCase())) continue;
    const parsed = await simpleParser(raw);
    const recipient = Array.isArray(parsed.to) ? parsed.to.map((a) => a.text).join(", ") : (parsed.to?.text ?? "");
    if (recipient.toLowerCase().includes(to.toLowerCase())) {
      mails.push({ to: recipient, subject: parsed.subject ?? "", text: parsed.text ?? "", html: parsed.html || "" });
    }
  }
  return mails;
}

/** Waits for mail number `count` to `to` (about "subject"), and returns it. */
export async function waitForMail(to: string, subject: string, count = 1): Promise<Mail> {
  let found: Mail[] = [];
  await expect
    .poll(
      async () => {
        found = (await mailsTo(to)).filter((mail) => mail.subject === subject);
        return found.length;
      },
      { message: `mail "${subject}" to ${to}`, timeout: 20_000 },
    )
    .toBeGreaterThanOrEqual(count);
  return found[count - 1];
}

/** The first link in `mail`'s plain text that starts with `prefix`. */
export function linkIn(mail: Mail, prefix: string): string {
  const match = mail.text.match(new RegExp(`${prefix.replace(/[.?*+^$[\]\\(){}|-]/g, "\\$&")}\\S+`));
  if (!match) throw new Error(`no link to ${prefix} in: ${mail.text}`);
  return match[0];
}
