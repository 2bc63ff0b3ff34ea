import { ValidationError } from '../../errors.js';

/**
 * `db create` without --dir would write into the package's own sql/ folder; an
 * installed package lives in node_modules, where a file is lost on the next
 * install and read as the package's own migration. Refused with the command to use.
 * @throws ValidationError when `directory` is inside node_modules
 */
export function refuseInstalledPackageFolder(directory: string): void {
  if (!/[\\/]node_modules[\\/]/.test(directory)) return;
  throw new ValidationError([
    {
      path: '--dir',
      message:
        'db create without --dir writes into the installed package (node_modules), which is not yours: keep your migrations in your project, e.g. `platform-data db create <name> --dir migrations`, then `platform-data db migrate --dir migrations`',
    },
  ]);
}
