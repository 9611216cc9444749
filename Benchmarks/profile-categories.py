"""Groups a callgrind_annotate listing into categories and prints instructions per row.

Used by Benchmarks/profile: python3 profile-categories.py NAME ROWS ANNOTATE_FILE.
A function goes to the first category whose pattern matches its line (mangled Swift name,
C symbol or shared object); the rest is "other".
"""
import re
import sys

# (category, pattern), first match wins. Patterns see the whole annotate line: the
# symbol (Swift names mangled: module and type names appear in clear) and the object.
CATEGORIES = [
    ("start-up (once per process)", r"dl-|_dl_|ld-linux|conformsToProtocol|swift_getTypeByMangled|swift::Demangle|"
                                    r"ConformanceSection|swift_once|__libc_start|_dl_relocate"),
    ("gzip: inflate + crc32", r"libz\.so|\[/usr/bin/gzip\]|crc32_z|inflate|libisal|isal_|igzip"),
    ("train: forward + AdaGrad update", r"3FFM6EngineC10trainEpoch|3FFM8FFMModelC6update|swiftctr_ffm_update4"),
    ("score (forward pass)", r"3FFM8FFMModelC5score|3FFM6EngineC5score|3FFM[^\n]*sigmoid"),
    ("weights: initialise, remap, hot rows, model load", r"3FFM8FFMModelC|3FFM7HotRows|3FFM9ModelFile|SeenIndices"),
    ("split lines", r"LineReader|LineChunk[^\n]*fill|RowsReader|memchr"),
    ("split rows-file lines into values", r"prepareRows|RowSplitter|tabs_avx2|tabs_sse2|tabs_finish|swiftctr_split_tabs"),
    ("parse columns", r"RowParser|ByteParsing|FieldSplitter|prepareRaw|strtod|LibFFMReader|"
                      r"fields_avx2|fields_sse2|fields_finish|swiftctr_split_fields"),
    ("column statistics", r"ColumnStatistics|HyperLog|IngestStats"),
    ("count values (rare)", r"CountWorker|ValueCounter|FieldCount|CountMin|FingerprintSet"),
    ("hash tokens to features", r"Featurize0A6Worker|CompiledField|Murmur3|Tokens|RowFeaturizer"),
    ("checksums (XXH64)", r"XXHash64"),
    ("write cache", r"CacheWriter|deltas_bmi2|deltas_finish|swiftctr_put_index_deltas"),
    ("format text", r"LibFFMWriter|formatFloat|appendDecimal|RowsFile|Formatter|PredictionWriter"),
    ("read cache", r"CacheReader|BinaryCache"),
    ("copy / fill memory", r"memcpy|memmove|memset"),
    ("Swift runtime (retain, exclusivity, alloc)", r"swift_|swift::|libswiftCore|malloc|free|_int_"),
    ("libc and kernel wrappers", r"libc\.so"),
]

def main():
    name, rows, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    total = 0
    sums = {c: 0 for c, _ in CATEGORIES}
    sums["other"] = 0
    top = []
    line_re = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$")
    for line in open(path, encoding="utf-8", errors="replace"):
        m = line_re.match(line)
        if not m:
            continue
        count = int(m.group(1).replace(",", ""))
        what = m.group(2)
        if "PROGRAM TOTALS" in what:
            total = count
            continue
        for category, pattern in CATEGORIES:
            if re.search(pattern, what):
                sums[category] += count
                break
        else:
            sums["other"] += count
        top.append((count, what))
    print(f"\n## {name}: {total:,} instructions, {total / rows:,.0f} per row")
    for category, count in sorted(sums.items(), key=lambda kv: -kv[1]):
        if count * 200 >= total:  # 0.5 % and more
            print(f"  {count / rows:>10,.0f}/row  {100 * count / total:5.1f}%  {category}")
    print("  largest functions:")
    for count, what in sorted(top, reverse=True)[:6]:
        symbol = re.sub(r"\s*\[[^\]]*\]\s*$", "", what).split(":", 1)[-1]
        print(f"  {count / rows:>10,.0f}/row  {symbol[:110]}")

main()
