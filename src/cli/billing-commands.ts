import type { Command } from 'commander';
import type { Services } from '../composition/services.js';
import { type CloseOutcome, closePeriod } from '../services/billing/period-closer.js';
import { jsonOption } from './options.js';
import { type CommandContext, commandGroup, given, type Output, runGroup } from './program.js';

/** What the billing commands use. */
export type BillingSubject = Pick<Services, 'tenants' | 'invoices'>;

export interface BillingContext extends CommandContext<BillingSubject> {
  /** Told whether every tenant's invoice is finalized; the CLI exits 1 when not. */
  outcome: (ok: boolean) => void;
}

const ABOUT = `
'close' finalizes the period's invoice of every tenant that has a price plan, as the worker
does once a period has ended; tenants finalized already keep their invoice. It refuses a period
that has not ended or whose usage is still queued, and exits 1 if any tenant failed.`;

function describe(outcome: CloseOutcome): string {
  if ('number' in outcome) return `${outcome.tenant}  ${outcome.number}  ${outcome.outcome}`;
  return `${outcome.tenant}  ${outcome.outcome}: ${outcome.reason}`;
}

/** `llm-backend billing ...`: month-end for operators. */
export function billingCommand({ using, out, actor, outcome }: BillingContext): Command {
  const group = commandGroup('billing', out)
    .description("Finalize tenants' invoices")
    .addHelpText('after', ABOUT);
  group
    .command('close')
    .description("Finalize one period's invoices for every tenant")
    .requiredOption('--period <YYYY-MM>', 'The billing period, a UTC month such as 2026-11')
    .addOption(jsonOption())
    .action((options: { period: string; json?: boolean }) =>
      using(async ({ tenants, invoices }) => {
        const outcomes = await closePeriod(tenants, invoices, options.period, actor);
        if (options.json) out.line(JSON.stringify(outcomes));
        else for (const item of outcomes) out.line(describe(item));
        outcome(outcomes.every((item) => item.outcome !== 'failed'));
      }),
    );
  return group;
}

/** Runs `llm-backend billing ...args` in-process; resolves with whether every tenant closed. */
export async function runBillingCommand(
  args: string[],
  services: BillingSubject,
  out: Output,
  actor: CommandContext<BillingSubject>['actor'],
): Promise<boolean> {
  let ok = true;
  const subject = { tenants: services.tenants, invoices: services.invoices };
  await runGroup(
    billingCommand({ using: given(subject), out, actor, outcome: (all) => (ok = all) }),
    args,
  );
  return ok;
}
