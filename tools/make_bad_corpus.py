#!/usr/bin/env python3
"""Writes tests/data/bad/: malformed customer exports and model files, and expect.tsv,
the table tests/test_bad.c reads (file, command and its extra flags, exit status, message
after the path).
Development tool: run it after changing a case. Rows are made up, never real data."""
import os

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "bad")
ROW = "7,1200,1200,8.5,8.5,1,9,0.5,600,0,10,1"
ROW0 = "8,1300,1300,9.5,9.5,0,8.91,0.25,325,1,3,0"
GOOD = ROW + "\n" + ROW0 + "\n"
HEADER = ("id,book_length_overall,book_length_avg,price_overall,price_avg,review,review_10,"
          "completion,minutes_listened,support_requests,last_visited_minus_purchase,targets")

Q = lambda row: ",".join('"%s"' % f for f in row.split(","))

CSV = [  # name, bytes, message after "PATH", extra train flags
    ("utf16.csv", "\ufeff".encode("utf-16-le") + GOOD.encode("utf-16-le"), ":1:1: the file is UTF-16 text (it starts with a byte-order mark)", ""),
    ("utf16_no_mark.csv", GOOD.encode("utf-16-le"), ":1:1: the file is UTF-16 text (every other byte is NUL)", ""),
    ("nul.csv", (ROW + "\n8,13\x0000,1300,9.5,9.5,0,8.91,0.25,325,1,3,0\n").encode(), ":2:5: unexpected NUL byte", ""),
    ("columns_1000.csv", (",".join(["1"] * 1000) + "\n").encode(), ":1:1: more than 256 comma-separated columns", ""),
    ("text_after_quote.csv", (ROW + '\n"8"x,"1300",1300,9.5,9.5,0,8.91,0.25,325,1,3,0\n').encode(), ":2:4: expected a ',' or the line's end after the closing quote, found 'x'", ""),
    ("unclosed_quote.csv", (GOOD + '9,"1300,1300,9.5,9.5,0,8.91,0.25,325,1,3,0\n' + ROW0.replace("8,", "10,", 1) + "\n").encode(), ":3:3: unclosed quote", ""),
    ("quoted_extra_field.csv", (Q(ROW) + "\n" + Q(ROW0) + ',"1"\n').encode(), ":2:1: expected 12 comma-separated columns, found 13", ""),
    ("columns_missing.csv", (HEADER + "\n" + GOOD).encode(), ":1:1: --columns 'completion=Done': no column of that name or number", " --columns completion=Done"),
    ("columns_bad_index.csv", (GOOD).encode(), ":1:1: --columns 'id=13': no column of that number", " --columns id=13"),
    ("semicolons_bad_row.csv", (ROW.replace(",", ";") + "\n" + ROW0.replace(",", ";") + ";5\n").encode(), ":2:1: expected 12 semicolon-separated columns, found 13", ""),
    ("tabs_bad_row.csv", (ROW.replace(",", "\t") + "\n" + ROW0.replace(",", "\t").rsplit("\t", 1)[0] + "\n").encode(), ":2:1: expected 12 tab-separated columns, found 11", ""),
    ("decimal_comma_unannounced.csv", (GOOD.replace(",", ";") + "9;1300;1300;9,5;9.5;0;8.91;0.25;325;1;3;0\n").encode(), ":3:13: expected a number in column 4 (price_overall), found '9,5'; for decimal commas give --decimal ,", ""),
    ("cp1252.csv", (ROW + "\n8,1300,1300,9\x80,9.5,0,8.91,0.25,325,1,3,0\n").encode("latin-1"), ":2:13: expected a number in column 4 (price_overall), found '9?'", ""),
    ("header_only.csv", (HEADER + "\n").encode(), ":1:1: the file has a header but no customer rows", ""),
    ("only_targets.csv", b"1\n0\n1\n", ":1:1: expected 12 comma-separated columns", ""),
    ("negative_minutes.csv", (ROW + "\n8,1300,1300,9.5,9.5,0,8.91,0.25,-325,1,3,0\n").encode(), ":2:33: expected a number >= 0 in column 9 (minutes_listened)", ""),
    ("completion_over_1.csv", (ROW + "\n8,1300,1300,9.5,9.5,0,8.91,1.25,325,1,3,0\n").encode(), ":2:28: expected a number in [0, 1] in column 8 (completion)", ""),
    ("target_2.csv", (ROW + "\n8,1300,1300,9.5,9.5,0,8.91,0.25,325,1,3,2\n").encode(), ":2:41: expected a target of 0 or 1", ""),
    ("target_minus_1.csv", (ROW + "\n8,1300,1300,9.5,9.5,0,8.91,0.25,325,1,3,-1\n").encode(), ":2:41: expected a target of 0 or 1", ""),
    ("trailing_comma.csv", (ROW + ",\n").encode(), ":1:1: expected 12 comma-separated columns (id, 10 features, target) or 11", ""),
    ("trailing_comma_row2.csv", (ROW + "\n" + ROW0 + ",\n").encode(), ":2:1: expected 12 comma-separated columns, found 13", ""),
    ("empty.csv", b"", ":1:1: the file is empty", ""),
    ("blank_lines.csv", b"\n\n\r\n", ":1:1: the file is empty", ""),
    ("one_class.csv", (ROW + "\n" + ROW.replace("7,", "9,", 1) + "\n").encode(), ":2:1: all 2 targets in column 12 (targets) are 1", ""),
    ("duplicate_id.csv", (ROW + "\n" + ROW0 + "\n" + ROW + "\n").encode(), ":3:1: duplicate customer id 7 (first on line 1)", ""),
    ("duplicate_text_id.csv", ("C-7" + ROW[1:] + "\n\n" + ROW0 + '\n"C-7"' + ROW0[1:] + "\n").encode(), ":4:1: duplicate customer id C-7 (first on line 1)", ""),
    ("nan.csv", (ROW + "\n8,1300,1300,nan,9.5,0,8.91,0.25,325,1,3,0\n").encode(), ":2:13: expected a number in column 4", ""),
    ("inf.csv", (ROW + "\n8,1300,1300,9.5,inf,0,8.91,0.25,325,1,3,0\n").encode(), ":2:17: expected a number in column 5", ""),
    ("huge_exponent.csv", (ROW + "\n8,1e999,1300,9.5,9.5,0,8.91,0.25,325,1,3,0\n").encode(), ":2:3: expected a number of at most 3.40282e+38 (the float32 range) in column 2", ""),
    ("beyond_float32.csv", (ROW + "\n8,1300,1300,9.5,9.5,0,8.91,0.25,1e39,1,3,0\n").encode(), ":2:33: expected a number of at most 3.40282e+38 (the float32 range) in column 9", ""),
    ("hex.csv", (ROW + "\n8,0x10,1300,9.5,9.5,0,8.91,0.25,325,1,3,0\n").encode(), ":2:3: expected a number in column 2", ""),
    ("missing_value.csv", (ROW + "\n8,1300,1300,9.5,9.5,0,,0.25,325,1,3,0\n").encode(), ":2:23: missing value in column 7 (review_10); use --missing", ""),
    ("missing_id.csv", (ROW + "\n,1300,1300,9.5,9.5,0,8.91,0.25,325,1,3,0\n").encode(), ":2:1: expected a customer id", ""),
    ("missing_target.csv", (ROW + "\n8,1300,1300,9.5,9.5,0,8.91,0.25,325,1,3,\n").encode(), ":2:41: expected a target of 0 or 1", ""),
    ("review_3.csv", (ROW + "\n8,1300,1300,9.5,9.5,3,8.91,0.25,325,1,3,0\n").encode(), ":2:21: expected a number in [0, 1] in column 6 (review)", ""),
    ("review_11.csv", (ROW + "\n8,1300,1300,9.5,9.5,1,11,0.25,325,1,3,0\n").encode(), ":2:23: expected a number in [0, 10] in column 7 (review_10)", ""),
    ("unknown_header.csv", (HEADER.replace("completion", "frobnicated") + ",segment\n" + ROW + ",a\n" + ROW0 + ",b\n").encode(), ":1:1: no column for completion (the file's columns: 'id', 'book_length_overall'", ""),
    ("duplicate_header.csv", (HEADER.replace("price_avg", "price_overall") + "\n" + GOOD).encode(), ":1:54: column 'price_overall' appears twice", ""),
    ("header_no_id.csv", (HEADER.replace("id,", "", 1) + ",targets\n").encode(), ":1:159: column 'targets' appears twice", ""),
    ("no_target.csv", (ROW.rsplit(",", 1)[0] + "\n").encode(), ":1:1: the file has no target column", ""),
    ("text_row.csv", (ROW + "\nhello world\n").encode(), ":2:1: expected 12 comma-separated columns", ""),
    ("cr_only.csv", (ROW + "\r" + ROW0 + "\r").encode(), ":1:1: expected 12 comma-separated columns", ""),
    ("html.csv", b"<html><body>Not found</body></html>\n", ":1:1: expected 12 comma-separated columns", ""),
]

MODELS = [  # name, bytes, message after "PATH"
    ("not_a_model.abm", b"hello, this is text\n", ": not an abgpu model file"),
    ("empty.abm", b"", ": not an abgpu model file"),
    ("csv_as_model.abm", GOOD.encode(), ": not an abgpu model file"),
]

def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    rows = []
    for name, data, msg, flags in CSV:
        open(os.path.join(OUT, name), "wb").write(data)
        rows.append(f"{name}\ttrain{flags}\t2\t{msg}")
    for name, data, msg in MODELS:
        open(os.path.join(OUT, name), "wb").write(data)
        rows.append(f"{name}\tpredict\t2\t{msg}")
    with open(os.path.join(OUT, "expect.tsv"), "w") as f:
        f.write("# file\tcommand\texit status\tmessage after the file's path (made by tools/make_bad_corpus.py)\n")
        f.write("\n".join(rows) + "\n")

main()
