import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import { type Actor, appendAudit, SYSTEM_ACTOR } from '../services/audit/audit-log.js';
import type { KeyRing, RewrapResult } from '../services/credentials/key-ring.js';
import type { ProviderKeyService } from '../services/credentials/provider-keys.js';
import { rewrapWebhookSecrets } from '../services/credentials/webhook-rewrap.js';
import type { Tenant, TenantService } from '../services/tenancy/tenant-service.js';
import { jsonOption } from './options.js';
import { type CommandContext, commandGroup, given, type Output, runGroup } from './program.js';

const ABOUT = `
Re-seals, under MASTER_KEY, what is still sealed under MASTER_KEY_PREVIOUS: every tenant's
provider keys (only their data keys) and webhook signing secrets. Run it with both variables
set, after every instance runs with them; running it again changes nothing. Exits 1 if
anything could not be opened (named on the output; nothing is printed of the secrets).`;

export interface SecretsContext extends CommandContext<SecretsDeps> {
  /** Told whether everything is now sealed under the current key; the CLI exits 1 if not. */
  outcome: (complete: boolean) => void;
}

export interface SecretsDeps {
  tenants: TenantService;
  providerKeys: ProviderKeyService;
  /** The ring webhook secrets are sealed with (purpose `webhook-secrets`). */
  webhookRing: KeyRing;
  /** Where the run is audited (`platform_audit_log`). */
  control: Kysely<unknown>;
}

interface TenantRewrap {
  tenant: Tenant;
  providerKeys: RewrapResult;
  webhookSecrets: RewrapResult;
}

const summary = (result: RewrapResult) =>
  `${result.rewrapped} rewrapped, ${result.current} current, ${result.failed.length} failed`;

async function rewrapTenant(deps: SecretsDeps, tenant: Tenant): Promise<TenantRewrap> {
  const providerKeys = await deps.providerKeys.rewrap(tenant.id);
  const webhookSecrets = await rewrapWebhookSecrets(
    deps.tenants.database(tenant),
    deps.webhookRing,
  );
  return { tenant, providerKeys, webhookSecrets };
}

function report(out: Output, done: TenantRewrap, index: number, total: number, json: boolean) {
  const { tenant, providerKeys, webhookSecrets } = done;
  if (json) {
    out.line(
      JSON.stringify({ tenant: tenant.id, slug: tenant.slug, providerKeys, webhookSecrets }),
    );
    return;
  }
  out.line(
    `tenant ${index}/${total} ${tenant.slug}: provider keys ${summary(providerKeys)}; webhook secrets ${summary(webhookSecrets)}`,
  );
  for (const failure of providerKeys.failed)
    out.line(`  failed provider key ${failure.id}: ${failure.error}`);
  for (const failure of webhookSecrets.failed)
    out.line(`  failed webhook ${failure.id}: ${failure.error}`);
}

/** Rewraps every live tenant (or one); returns whether nothing failed. */
async function rewrap(
  deps: SecretsDeps,
  out: Output,
  actor: Actor,
  options: { tenant?: string; json?: boolean },
): Promise<boolean> {
  const tenants =
    options.tenant === undefined
      ? await deps.tenants.list()
      : [await deps.tenants.get(options.tenant)];
  // Tenants being provisioned or deleted have nothing to serve; a purge drops them anyway.
  const live = tenants.filter((t) => t.status === 'active' || t.status === 'disabled');
  const totals = { rewrapped: 0, failed: 0 };
  for (const [index, tenant] of live.entries()) {
    const done = await rewrapTenant(deps, tenant);
    report(out, done, index + 1, live.length, options.json === true);
    for (const result of [done.providerKeys, done.webhookSecrets]) {
      totals.rewrapped += result.rewrapped;
      totals.failed += result.failed.length;
    }
  }
  await appendAudit(deps.control, 'platform_audit_log', actor, {
    action: 'secrets.rewrap',
    targetType: 'platform',
    targetId: 'secrets',
    after: { tenants: live.length, ...totals },
  });
  if (!options.json) out.line(`done: ${totals.rewrapped} rewrapped, ${totals.failed} failed`);
  return totals.failed === 0;
}

/**
 * `llm-backend secrets rewrap`: the second half of a MASTER_KEY rotation (see
 * docs/provider-keys.md).
 */
export function secretsCommand({ using, out, actor, outcome }: SecretsContext): Command {
  const group = commandGroup('secrets', out).description(
    'Re-seal stored secrets under a new MASTER_KEY (key rotation)',
  );
  group
    .command('rewrap')
    .description('Re-seal what MASTER_KEY_PREVIOUS sealed under MASTER_KEY')
    .option('--tenant <tenant>', 'Only this tenant (its id or slug)')
    .addOption(jsonOption())
    .addHelpText('after', ABOUT)
    .action((options: { tenant?: string; json?: boolean }) =>
      using(async (deps) => outcome(await rewrap(deps, out, actor, options))),
    );
  return group;
}

/** Runs `llm-backend secrets ...args` in-process; resolves with whether nothing failed. */
export async function runSecretsCommand(
  args: string[],
  deps: SecretsDeps,
  out: Output,
  actor: Actor = SYSTEM_ACTOR,
): Promise<boolean> {
  let complete = true;
  const outcome = (ok: boolean) => {
    complete = ok;
  };
  await runGroup(secretsCommand({ using: given(deps), out, actor, outcome }), args);
  return complete;
}
