import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { messageOf } from '../api.js';
import { ErrorMessage } from './Status.js';

/**
 * A button that asks before a destructive action: a modal <dialog> (the browser keeps focus
 * inside it and Escape closes it), focus on Cancel first, the error shown in the dialog.
 */
export function ConfirmButton({
  label,
  title,
  children,
  confirmLabel,
  onConfirm,
  danger = true,
}: {
  label: string;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm(): Promise<void>;
  danger?: boolean;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const headingId = useId();

  useEffect(() => {
    if (!open) return;
    dialog.current?.showModal();
    cancel.current?.focus();
  }, [open]);

  const close = () => {
    dialog.current?.close();
    setOpen(false);
    setError(null);
  };
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      close();
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <button type="button" className={danger ? 'danger' : undefined} onClick={() => setOpen(true)}>
        {label}
      </button>
      {open && (
        <dialog ref={dialog} aria-labelledby={headingId} onClose={close} className="dialog">
          <h2 id={headingId}>{title}</h2>
          <div>{children}</div>
          <ErrorMessage message={error} />
          <div className="dialog-actions">
            <button type="button" ref={cancel} onClick={close}>
              Cancel
            </button>
            <button
              type="button"
              className={danger ? 'danger' : 'primary'}
              disabled={busy}
              onClick={() => void confirm()}
            >
              {confirmLabel}
            </button>
          </div>
        </dialog>
      )}
    </>
  );
}
