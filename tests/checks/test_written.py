import pytest

from grader.rubric import load

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
    # no answer at all still goes to the instructor (manual, 0 points), never a silent fail
    v = judge("written", markdown=["### 練習 1"], ideas=IDEAS)
    assert v.status == "manual" and v.fraction == 0 and "no written answer" in v.message


def test_question_text_is_ignored():
    v = judge("written", markdown=["為什麼計算圖很重要？\n我不知道，但我寫了很多很多很多很多字來回答這一題喔。"], ideas=IDEAS)
    assert v.fraction == 0  # a sentence ending in a question mark is the question
    v = judge("written", markdown=["計算圖很重要。我不知道，但我寫了很多很多很多很多字來回答這一題喔。"], ideas=IDEAS,
              ignore=["計算圖很重要。"])
    assert v.fraction == 0


def test_answers_in_code_comments_and_strings():
    v = judge("written", code=["# keep the graph\nprint('and it takes memory')\nx = 1"], ideas=IDEAS)
    assert v.status == "manual" and v.fraction == 1


def test_ideas_count_only_about_the_topic():
    about = ["second"]
    on = "A second derivative is costly. It keeps the graph and more memory."
    off = "We avoid allocating new memory every time we take a derivative. The graph is freed after backward."
    assert judge("written", markdown=[on], ideas=IDEAS, about=about).fraction == 1
    v = judge("written", markdown=[off], ideas=IDEAS, about=about)
    assert v.fraction == 0 and "does not discuss" in v.message
    # a sentence next to a topic sentence counts (about_window), one far away does not
    far = "A second derivative is costly. Filler one. Filler two. Filler three. It needs memory."
    assert judge("written", markdown=[far], ideas=IDEAS, about=about).fraction == 0
    assert judge("written", markdown=[far], ideas=IDEAS, about=about, about_window=4).fraction == 1 / 3


def test_params_validated():
    assert invalid("written", ideas=[])
    assert invalid("written", ideas=[{"id": "a", "points": 1, "zh-TW": "a", "en": "a", "patterns": ["("]}])
    assert invalid("written", ideas=IDEAS, about=["("])


# ---- the bundled rubric's exercise 1 -------------------------------------------------------

def ex1(**region):
    spec = next(c for q, c in load().checks() if q.id == "ex1-second-derivative-cost")
    params = {k: v for k, v in spec.params.items()}
    return judge("written", **region, **params)


@pytest.mark.parametrize("answer", [
    # zh-TW
    "計算二階導數時，要先算出一階導數並保留它的計算圖（create_graph=True），再對它做一次反向傳播；中間結果都要存著，記憶體更多。",
    # zh-CN, own words: 显存, 再求导
    "二阶导数要对一阶导数的计算再求导一次，所以得把一阶导数的计算图建出来并保留，显存占用更大，还要多做一次反向传播。",
    # English
    "The second derivative differentiates through the first derivative's graph, so autograd must build and keep "
    "that graph (create_graph=True), store its intermediate values (more memory) and run an extra backward pass.",
])
def test_ex1_full_answers_in_every_language(answer):
    v = ex1(markdown=[answer])
    assert v.status == "manual" and v.fraction == 1, v.message


def test_ex1_answer_in_a_code_comment_counts():
    v = ex1(code=["# 二阶导数：要保留一阶导数的计算图（create_graph），再反向传播一次，内存更多\n"
                  "x = torch.tensor(2.0, requires_grad=True)"])
    assert v.status == "manual" and v.fraction == 1, v.message


def test_ex1_hessian_size_and_short_guesses_get_little():
    v = ex1(markdown=["1 answer : the second derivation leads to computing N² elements of a matrix (the Hessian)."])
    assert 0 < v.fraction <= 0.3, v.message
    v = ex1(markdown=["The second derivative is more expensive."])
    assert v.fraction == 0, v.message


def test_ex1_a_pasted_paragraph_about_memory_gets_nothing():
    """The section's own text mentions 記憶體 and derivatives, but not why a second derivative costs more."""
    v = ex1(markdown=["在我們計算y關於x的梯度之前，需要一個地方來存儲梯度。重要的是，我們不會在每次對一個參數求導時都分配新的記憶體。"
                      "因為我們經常會成千上萬次地更新相同的參數，每次都分配新的記憶體可能很快就會將記憶體耗盡。"])
    assert v.status == "manual" and v.fraction == 0, v.message


def test_ex1_the_question_restated_alone_is_no_answer():
    for q in ["為什麼計算二階導數比一階導數的開銷要更大？", "Why is the second derivative much more expensive to compute "
              "than the first derivative?", "1. 为什么计算二阶导数比一阶导数的开销要更大？"]:
        v = ex1(markdown=[q])
        assert v.status == "manual" and v.fraction == 0, (q, v.message)


def test_a_restated_question_says_what_the_answer_after_it_is_about():
    """A short answer need not repeat the topic: the question right before it names it. The
    question itself still earns nothing, and an answer far from it nothing either."""
    about = ["second"]
    q = "Why is a second derivative costly?"
    assert judge("written", markdown=[q + " It keeps the graph."], ideas=IDEAS, about=about).fraction == 2 / 3
    assert judge("written", markdown=[q, "It keeps the graph."], ideas=IDEAS, about=about).fraction == 2 / 3
    assert judge("written", markdown=["Why is the graph kept? It is."], ideas=IDEAS, about=about).fraction == 0
    v = ex1(markdown=["1. 二階導數為何比一階導數更花計算資源？", "答：因為要保存更多中間變數，所以需要更多記憶體。"])
    assert v.status == "manual" and v.fraction == 0.3, v.message


def test_a_cell_ends_its_sentence():
    """A lead-in without a full stop ("Run it again:") does not join the next cell's text: the
    next exercise's answer is not read as this one's."""
    about = ["second"]
    cells = ["A second derivative costs more work.", "Now run backward again:", "Error: the graph was freed, memory is released."]
    assert judge("written", markdown=cells, ideas=IDEAS, about=about).fraction == 0


def test_ex1_the_sections_own_sentence_on_memory_after_the_question_is_no_answer():
    for answer in ["我们不会在每次对一个参数求导时都分配新的内存。因为同一个参数经常要更新成千上万次，每次都分配新内存会很快把内存耗尽。",
                   "We will not allocate new memory every time we take a derivative with respect to a parameter, because we "
                   "will often update the same parameters thousands or millions of times and could quickly run out of memory."]:
        v = ex1(markdown=["1. 为什么二阶导数的计算开销比一阶导数大得多？", answer])
        assert v.status == "manual" and v.fraction == 0, (answer, v.message)


def test_ex1_storing_in_general_is_not_the_memory_idea():
    """'store' earns the memory idea only with what is stored (intermediate values, the graph) or
    more of it: a wrong reason that happens to say 'store' gets nothing."""
    v = ex1(markdown=["The second derivative is more expensive because its values grow bigger and need more precision, "
                      "and it is harder for the computer to store such numbers."])
    assert v.fraction == 0, v.message
    v = ex1(markdown=["A second derivative must store the intermediate values of the first backward pass."])
    assert v.fraction >= 0.3, v.message


def test_ex1_twice_the_computation_is_more_computation():
    v = ex1(markdown=["(1) 二阶导数：因为要求两次导，计算量大概是一阶的两倍，所以更慢。"])
    assert v.fraction == 0.3, v.message
    v = ex1(markdown=["二阶导数：反向传播也要再做一遍，所以更慢。"])
    assert v.fraction == 0.3, v.message
    v = ex1(markdown=["二階導數：接著再在這張更大的圖上做一次反向 → 計算量變多。"])
    assert v.fraction == 0.3, v.message
    # twice the cost of something else (float64 against float32) is no extra computation
    v = ex1(markdown=["二階導數要用 float64，double 的運算和精度要求都是 float32 的兩倍，所以比較慢。"])
    assert v.fraction == 0, v.message
