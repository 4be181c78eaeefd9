from .helpers import invalid, judge

IDEAS = [
    {"id": "graph", "points": 2, "zh-TW": "保留計算圖", "en": "keep the graph", "patterns": ["計算圖|计算图", r"\bgraph\b"]},
    {"id": "memory", "points": 1, "zh-TW": "更多記憶體", "en": "more memory", "patterns": ["記憶體|内存|內存", r"\bmemory\b"]},
]


def test_key_ideas_in_three_wordings_are_manual():
    for text in ["要保留一階導數的計算圖，也需要更多記憶體", "需要保存计算图，占用更多内存", "We must keep the graph, which costs memory."]:
        v = judge("written", markdown=[text], ideas=IDEAS)
        assert v.status == "manual" and v.fraction == 1, text


def test_partial_and_missing():
    v = judge("written", markdown=["It needs more memory than before, I think."], ideas=IDEAS)
    assert v.status == "manual" and abs(v.fraction - 1 / 3) < 1e-9 and "not mentioned: keep the graph" in v.message
    assert judge("written", markdown=["### 練習 1"], ideas=IDEAS).status == "fail"


def test_question_text_is_ignored():
    v = judge("written", markdown=["為什麼計算圖很重要？\n我不知道，但我寫了很多很多很多很多字來回答這一題喔。"], ideas=IDEAS,
              ignore=["為什麼計算圖很重要？"])
    assert v.fraction == 0


def test_params_validated():
    assert invalid("written", ideas=[])
    assert invalid("written", ideas=[{"id": "a", "points": 1, "zh-TW": "a", "en": "a", "patterns": ["("]}])
