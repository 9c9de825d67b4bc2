package corpus

import "strings"

// languages names each language by its ISO 639-1 code, then the names a
// corpus or a person may give it instead: English names, its own names
// (with and without diacritics where people type both), ISO 639-2/3 codes
// (bibliographic and terminology forms) and retired codes. Canonical maps
// every name to the code, so a corpus tagged "Italian" calibrates
// --language it, and --language Deutsch selects the built-in "de"
// documents. Only some of these languages have built-in documents (list
// says which); for the others a --corpus file supplies them.
var languages = []string{
	"ar arabic العربية ara",
	"bg bulgarian български bul",
	"bn bengali bangla বাংলা ben",
	"ca catalan català catala cat",
	"cs czech čeština cestina ces cze",
	"da danish dansk dan",
	"de german deutsch deu ger",
	"el greek ελληνικά ell gre",
	"en english eng",
	"es spanish español espanol castellano spa",
	"et estonian eesti est",
	"fa persian farsi فارسی fas per",
	"fi finnish suomi fin",
	"fr french français francais fra fre",
	"gu gujarati ગુજરાતી guj",
	"he hebrew עברית heb iw",
	"hi hindi हिन्दी हिंदी hin",
	"hr croatian hrvatski hrv",
	"hu hungarian magyar hun",
	"id indonesian bahasa-indonesia ind",
	"it italian italiano ita",
	"ja japanese 日本語 jpn",
	"kn kannada ಕನ್ನಡ kan",
	"ko korean 한국어 kor",
	"lt lithuanian lietuvių lietuviu lit",
	"lv latvian latviešu latviesu lav",
	"ml malayalam മലയാളം mal",
	"mr marathi मराठी mar",
	"ms malay bahasa-melayu msa may",
	"nl dutch nederlands flemish nld dut",
	"no norwegian norsk bokmål bokmal nb nob nor",
	"pa punjabi panjabi ਪੰਜਾਬੀ pan",
	"pl polish polski pol",
	"pt portuguese português portugues por",
	"ro romanian română romana ron rum",
	"ru russian русский rus",
	"sk slovak slovenčina slovencina slk slo",
	"sl slovenian slovene slovenščina slovenscina slv",
	"sr serbian српски srpski srp",
	"sv swedish svenska swe",
	"sw swahili kiswahili swa",
	"ta tamil தமிழ் tam",
	"te telugu తెలుగు tel",
	"th thai ไทย tha",
	"tl tagalog filipino tgl fil",
	"tr turkish türkçe turkce tur",
	"uk ukrainian українська ukr",
	"ur urdu اردو urd",
	"vi vietnamese tiếng-việt tieng-viet vie",
	"zh chinese mandarin 中文 汉语 漢語 zho chi",
}

// languageNames maps every name in languages (lower case; a "-" in a
// multi-word name also stands for a space) to its code.
var languageNames = func() map[string]string {
	m := map[string]string{}
	for _, line := range languages {
		f := strings.Fields(line)
		for _, name := range f[1:] {
			m[name] = f[0]
			if strings.Contains(name, "-") {
				m[strings.ReplaceAll(name, "-", " ")] = f[0]
			}
		}
	}
	return m
}()
