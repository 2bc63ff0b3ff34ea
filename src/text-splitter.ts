/**
 * Splits a document's text into chunks for embedding. Small on purpose, so a
 * library splitter (e.g. LangChain's RecursiveCharacterTextSplitter, whose
 * `splitText(text): Promise<string[]>` already has this shape) can be
 * plugged in without touching the pipeline.
 */
export interface TextSplitter {
  /** Non-empty chunks in document order; neighbouring chunks may overlap. */
  split(text: string): Promise<string[]>;
}
