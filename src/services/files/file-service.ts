import type { Kysely } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import { FilesRepository, type StoredFile } from '../../storage/repositories/files.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';

export type { StoredFile };

/** The purposes a client may upload with: only batch input is used here. */
export const UPLOAD_PURPOSES = ['batch'] as const;

/** OpenAI's `file` object (no `expires_at`: files are kept until deleted). */
export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed';
}

export interface FileServiceOptions {
  /** The tenant's database (its primary: a file is read back at once, maybe elsewhere). */
  database: (tenantId: string) => Promise<Kysely<TenantSchema>>;
  /** The largest file accepted. */
  maxFileBytes: number;
  /** The bytes all of one tenant's files may take together. */
  tenantQuotaBytes: number;
  now?: () => number;
}

export interface Upload {
  filename: string;
  purpose: string;
  content: Uint8Array;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const MAX_FILENAME_LENGTH = 512;

export function fileObject(file: StoredFile): FileObject {
  return {
    id: file.id,
    object: 'file',
    bytes: file.bytes,
    created_at: Math.floor(file.createdAt.getTime() / 1000),
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed',
  };
}

/**
 * Files of OpenAI's Files API, in each tenant's own database: any instance reads what
 * another stored, and another tenant's file id is simply not found.
 */
export class FileService {
  constructor(private readonly options: FileServiceOptions) {}

  /** Checks the upload, then stores it; bad input changes nothing. */
  async create(tenantId: string, upload: Upload): Promise<FileObject> {
    checkUpload(upload, this.options.maxFileBytes);
    const repository = await this.repository(tenantId);
    const file: StoredFile = {
      id: newId('file'),
      filename: upload.filename,
      purpose: upload.purpose,
      bytes: upload.content.length,
      createdAt: new Date((this.options.now ?? Date.now)()),
    };
    if (!(await repository.put(file, upload.content, this.options.tenantQuotaBytes)))
      throw new GatewayError('file_storage_exceeded', { param: 'file' });
    return fileObject(file);
  }

  /**
   * Stores a file the platform made (a batch's output), under an id it chose: written again,
   * it replaces the earlier one, so a finalization run twice leaves one file. Outside the
   * upload checks and the tenant's quota: the tenant's own batch made it.
   */
  async store(tenantId: string, file: Omit<Upload, 'filename'> & { id: string; filename: string }) {
    const repository = await this.repository(tenantId);
    await repository.delete(file.id);
    const stored: StoredFile = {
      id: file.id,
      filename: file.filename,
      purpose: file.purpose,
      bytes: file.content.length,
      createdAt: new Date((this.options.now ?? Date.now)()),
    };
    await repository.put(stored, file.content, Number.POSITIVE_INFINITY);
    return fileObject(stored);
  }

  /** The stored file's description, or null: for callers that answer a missing file their way. */
  async find(tenantId: string, id: string): Promise<StoredFile | null> {
    return (await this.repository(tenantId)).get(id);
  }

  async get(tenantId: string, id: string): Promise<FileObject> {
    return fileObject(await this.stored(tenantId, id));
  }

  async list(
    tenantId: string,
    options: { limit: number; order: 'asc' | 'desc'; after?: string; purpose?: string },
  ): Promise<{ data: FileObject[]; hasMore: boolean }> {
    const repository = await this.repository(tenantId);
    const rows = await repository.list({ ...options, limit: options.limit + 1 });
    return {
      data: rows.slice(0, options.limit).map(fileObject),
      hasMore: rows.length > options.limit,
    };
  }

  /** The file's content, whole (files are bounded by `maxFileBytes`). */
  async content(tenantId: string, id: string): Promise<Buffer> {
    await this.stored(tenantId, id);
    const chunks: Uint8Array[] = [];
    for await (const chunk of (await this.repository(tenantId)).content(id)) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  async delete(tenantId: string, id: string): Promise<void> {
    if (!(await (await this.repository(tenantId)).delete(id))) throw notFound(id);
  }

  private async stored(tenantId: string, id: string): Promise<StoredFile> {
    const file = await (await this.repository(tenantId)).get(id);
    if (file === null) throw notFound(id);
    return file;
  }

  private async repository(tenantId: string) {
    return new FilesRepository(await this.options.database(tenantId));
  }
}

function checkUpload(upload: Upload, maxFileBytes: number): void {
  if (!(UPLOAD_PURPOSES as readonly string[]).includes(upload.purpose))
    throw new GatewayError('invalid_request', {
      message: `'${upload.purpose}' is not a supported purpose; supported: ${UPLOAD_PURPOSES.join(', ')}.`,
      param: 'purpose',
    });
  if (upload.content.length > maxFileBytes)
    throw new GatewayError('file_too_large', { param: 'file' });
  if (upload.content.length === 0)
    throw new GatewayError('invalid_request', { message: 'The file is empty.', param: 'file' });
  // Text columns cannot hold NUL, and a name is for people to read: refused, not stored.
  if (upload.filename.includes('\u0000') || upload.filename.length > MAX_FILENAME_LENGTH)
    throw new GatewayError('invalid_request', {
      message: `The file name must be at most ${MAX_FILENAME_LENGTH} characters, without NUL.`,
      param: 'file',
    });
  if (!upload.filename.toLowerCase().endsWith('.jsonl'))
    throw new GatewayError('invalid_request', {
      message: "A file with purpose 'batch' must be JSONL, with a .jsonl name.",
      param: 'file',
    });
  try {
    utf8.decode(upload.content);
  } catch {
    throw new GatewayError('invalid_request', {
      message: 'The file is not valid UTF-8 text.',
      param: 'file',
    });
  }
}

const notFound = (id: string) =>
  new GatewayError('file_not_found', { message: `No such File object: ${id}`, param: 'file_id' });
