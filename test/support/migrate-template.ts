/** Applies the package's migrations to the template database (none yet in the foundation). */
export async function migrateTemplate(url: string): Promise<void> {
  void url;
}
